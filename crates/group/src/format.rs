//! The record format of `__consumer_offsets`: Kafka's own key/value layouts (the schemas in
//! Kafka's `group-coordinator/src/main/resources/common/message/`), non-flexible versions.
//!
//! Every record key starts with an `int16` key version that says what the record is:
//! - key version 0 or 1: `OffsetCommitKey { group: string, topic: string, partition: int32 }`,
//!   value `OffsetCommitValue` v1 `{ offset: int64, metadata: string, commit_timestamp: int64,
//!   expire_timestamp: int64 }` (written when the commit carried a retention time) or v3
//!   `{ offset: int64, leader_epoch: int32, metadata: string, commit_timestamp: int64 }`;
//!   v0 (`offset, metadata, commit_timestamp`) and v2 (v3 without leader epoch) are read too.
//! - key version 2: `GroupMetadataKey { group: string }`, value `GroupMetadataValue` v3
//!   `{ protocol_type: string, generation: int32, protocol: nullable string, leader: nullable
//!   string, current_state_timestamp: int64, members: [ { member_id: string,
//!   group_instance_id: nullable string, client_id: string, client_host: string,
//!   rebalance_timeout: int32, session_timeout: int32, subscription: bytes, assignment: bytes } ] }`;
//!   v0–v2 are read too (v0 lacks rebalance timeout, v0/v1 lack the state timestamp, v0–v2 the
//!   instance id).
//! - a null value is a tombstone: the offset, or the whole group, is deleted.
//!
//! `string` = int16 length + UTF-8 (length -1 = null for nullable), `bytes` = int32 length +
//! bytes, arrays = int32 count. Integers are big-endian. Unknown key or value versions are an
//! error: the loader refuses to start rather than silently drop state.

use std::fmt;

/// What a `__consumer_offsets` record is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    /// A committed offset of `(group, topic, partition)`.
    Offset {
        /// Group id.
        group: String,
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
    },
    /// A group's membership and generation.
    Group {
        /// Group id.
        group: String,
    },
}

impl RecordKey {
    /// The group the record belongs to.
    pub fn group(&self) -> &str {
        match self {
            RecordKey::Offset { group, .. } | RecordKey::Group { group } => group,
        }
    }
}

/// A committed offset (`OffsetCommitValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    /// The next offset the group will consume.
    pub offset: i64,
    /// Leader epoch of the committed record, -1 if unknown.
    pub leader_epoch: i32,
    /// The client's metadata string, round-tripped exactly.
    pub metadata: String,
    /// When the commit happened (ms since the epoch).
    pub commit_timestamp: i64,
    /// Explicit expiry (OffsetCommit v2–v4 `retention_time_ms`), if any.
    pub expire_timestamp: Option<i64>,
}

/// One member in a stored group (`GroupMetadataValue.members`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberValue {
    /// Member id.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host as Kafka shows it (`/127.0.0.1`).
    pub client_host: String,
    /// Rebalance timeout.
    pub rebalance_timeout_ms: i32,
    /// Session timeout.
    pub session_timeout_ms: i32,
    /// Subscription (the member's metadata for the selected protocol).
    pub subscription: Vec<u8>,
    /// Assignment from the leader.
    pub assignment: Vec<u8>,
}

/// A group's stored state (`GroupMetadataValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    /// Protocol type (`consumer` for consumer groups).
    pub protocol_type: String,
    /// Generation id.
    pub generation: i32,
    /// Selected protocol (assignor), none for an empty group.
    pub protocol: Option<String>,
    /// Leader member id.
    pub leader: Option<String>,
    /// When the group entered its current state (ms since the epoch).
    pub current_state_timestamp: i64,
    /// Members with their assignments.
    pub members: Vec<MemberValue>,
}

/// A record that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError(pub String);

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad __consumer_offsets record: {}", self.0)
    }
}

impl std::error::Error for FormatError {}

fn err(what: &str) -> FormatError {
    FormatError(what.to_string())
}

// ---- writing ----

fn put_i16(out: &mut Vec<u8>, v: i16) {
    out.extend_from_slice(&v.to_be_bytes());
}
fn put_i32(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_be_bytes());
}
fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_be_bytes());
}
/// Longest string the format stores (`int16` length): 32767 bytes.
pub const MAX_STRING_BYTES: usize = i16::MAX as usize;

/// A string longer than [`MAX_STRING_BYTES`] is refused, never cut: a shortened id would name
/// another group or member after a replay.
fn put_str(out: &mut Vec<u8>, what: &str, s: &str) -> Result<(), FormatError> {
    let bytes = s.as_bytes();
    if bytes.len() > MAX_STRING_BYTES {
        return Err(FormatError(format!(
            "{what} is {} bytes, more than the {MAX_STRING_BYTES} a stored string holds",
            bytes.len()
        )));
    }
    put_i16(out, bytes.len() as i16);
    out.extend_from_slice(bytes);
    Ok(())
}
fn put_nullable_str(out: &mut Vec<u8>, what: &str, s: Option<&str>) -> Result<(), FormatError> {
    match s {
        Some(s) => put_str(out, what, s),
        None => {
            put_i16(out, -1);
            Ok(())
        }
    }
}
fn put_bytes(out: &mut Vec<u8>, what: &str, b: &[u8]) -> Result<(), FormatError> {
    let len = i32::try_from(b.len())
        .map_err(|_| FormatError(format!("{what} is {} bytes, too large to store", b.len())))?;
    put_i32(out, len);
    out.extend_from_slice(b);
    Ok(())
}

/// Encodes a record key; a string that does not fit is an error.
pub fn encode_key(key: &RecordKey) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::new();
    match key {
        RecordKey::Offset {
            group,
            topic,
            partition,
        } => {
            put_i16(&mut out, 1);
            put_str(&mut out, "group id", group)?;
            put_str(&mut out, "topic", topic)?;
            put_i32(&mut out, *partition);
        }
        RecordKey::Group { group } => {
            put_i16(&mut out, 2);
            put_str(&mut out, "group id", group)?;
        }
    }
    Ok(out)
}

/// Encodes an offset value: v1 when it carries an expiry, else v3.
pub fn encode_offset_value(v: &OffsetValue) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::new();
    match v.expire_timestamp {
        Some(expire) => {
            put_i16(&mut out, 1);
            put_i64(&mut out, v.offset);
            put_str(&mut out, "offset metadata", &v.metadata)?;
            put_i64(&mut out, v.commit_timestamp);
            put_i64(&mut out, expire);
        }
        None => {
            put_i16(&mut out, 3);
            put_i64(&mut out, v.offset);
            put_i32(&mut out, v.leader_epoch);
            put_str(&mut out, "offset metadata", &v.metadata)?;
            put_i64(&mut out, v.commit_timestamp);
        }
    }
    Ok(out)
}

/// Encodes a group value (v3).
pub fn encode_group_value(v: &GroupValue) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::new();
    put_i16(&mut out, 3);
    put_str(&mut out, "protocol type", &v.protocol_type)?;
    put_i32(&mut out, v.generation);
    put_nullable_str(&mut out, "protocol", v.protocol.as_deref())?;
    put_nullable_str(&mut out, "leader", v.leader.as_deref())?;
    put_i64(&mut out, v.current_state_timestamp);
    let count = i32::try_from(v.members.len()).map_err(|_| err("too many members"))?;
    put_i32(&mut out, count);
    for m in &v.members {
        put_str(&mut out, "member id", &m.member_id)?;
        put_nullable_str(
            &mut out,
            "group instance id",
            m.group_instance_id.as_deref(),
        )?;
        put_str(&mut out, "client id", &m.client_id)?;
        put_str(&mut out, "client host", &m.client_host)?;
        put_i32(&mut out, m.rebalance_timeout_ms);
        put_i32(&mut out, m.session_timeout_ms);
        put_bytes(&mut out, "subscription", &m.subscription)?;
        put_bytes(&mut out, "assignment", &m.assignment)?;
    }
    Ok(out)
}

// ---- reading ----

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        if self.buf.len() - self.pos < n {
            return Err(err("truncated"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn i16(&mut self) -> Result<i16, FormatError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, FormatError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Result<i64, FormatError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(i64::from_be_bytes(a))
    }
    fn nullable_str(&mut self) -> Result<Option<String>, FormatError> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        let b = self.take(len as usize)?;
        String::from_utf8(b.to_vec())
            .map(Some)
            .map_err(|_| err("string is not UTF-8"))
    }
    fn str(&mut self) -> Result<String, FormatError> {
        self.nullable_str()?.ok_or_else(|| err("null string"))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, FormatError> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(Vec::new());
        }
        Ok(self.take(len as usize)?.to_vec())
    }
}

/// Decodes a record key.
pub fn decode_key(buf: &[u8]) -> Result<RecordKey, FormatError> {
    let mut r = Reader { buf, pos: 0 };
    match r.i16()? {
        0 | 1 => Ok(RecordKey::Offset {
            group: r.str()?,
            topic: r.str()?,
            partition: r.i32()?,
        }),
        2 => Ok(RecordKey::Group { group: r.str()? }),
        v => Err(FormatError(format!("unknown key version {v}"))),
    }
}

/// Decodes an `OffsetCommitValue` v0–v3.
pub fn decode_offset_value(buf: &[u8]) -> Result<OffsetValue, FormatError> {
    let mut r = Reader { buf, pos: 0 };
    let version = r.i16()?;
    let offset = r.i64()?;
    let (leader_epoch, metadata, commit_timestamp, expire_timestamp) = match version {
        0 => (-1, r.str()?, r.i64()?, None),
        1 => (-1, r.str()?, r.i64()?, Some(r.i64()?)),
        2 => (-1, r.str()?, r.i64()?, None),
        3 => (r.i32()?, r.str()?, r.i64()?, None),
        v => return Err(FormatError(format!("unknown offset value version {v}"))),
    };
    Ok(OffsetValue {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
        expire_timestamp,
    })
}

/// Fewest bytes one member of a `GroupMetadataValue` takes (v0: three empty strings, the
/// session timeout and two empty byte arrays).
const MIN_MEMBER_LEN: usize = 3 * 2 + 4 + 2 * 4;

/// Decodes a `GroupMetadataValue` v0–v3.
pub fn decode_group_value(buf: &[u8]) -> Result<GroupValue, FormatError> {
    let mut r = Reader { buf, pos: 0 };
    let version = r.i16()?;
    if !(0..=3).contains(&version) {
        return Err(FormatError(format!(
            "unknown group value version {version}"
        )));
    }
    let protocol_type = r.str()?;
    let generation = r.i32()?;
    let protocol = r.nullable_str()?;
    let leader = r.nullable_str()?;
    let current_state_timestamp = if version >= 2 { r.i64()? } else { -1 };
    let count = r.i32()?;
    // Each member takes at least MIN_MEMBER_LEN bytes, so a count the rest cannot hold is
    // refused before it sizes an allocation (a member is ~150 bytes in memory).
    if count < 0 || count as usize > (buf.len() - r.pos) / MIN_MEMBER_LEN {
        return Err(err("bad member count"));
    }
    let mut members = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let member_id = r.str()?;
        let group_instance_id = if version >= 3 {
            r.nullable_str()?
        } else {
            None
        };
        let client_id = r.str()?;
        let client_host = r.str()?;
        let session_then_rebalance = version == 0;
        let (rebalance_timeout_ms, session_timeout_ms) = if session_then_rebalance {
            let s = r.i32()?;
            (s, s)
        } else {
            let rb = r.i32()?;
            (rb, r.i32()?)
        };
        members.push(MemberValue {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            subscription: r.bytes()?,
            assignment: r.bytes()?,
        });
    }
    Ok(GroupValue {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp,
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_round_trip() {
        for key in [
            RecordKey::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 3,
            },
            RecordKey::Group { group: "g2".into() },
        ] {
            assert_eq!(decode_key(&encode_key(&key).unwrap()).unwrap(), key);
        }
        for expire in [None, Some(99)] {
            let v = OffsetValue {
                offset: 42,
                leader_epoch: if expire.is_some() { -1 } else { 7 },
                metadata: "meta ✓".into(),
                commit_timestamp: 1_700_000_000_000,
                expire_timestamp: expire,
            };
            assert_eq!(
                decode_offset_value(&encode_offset_value(&v).unwrap()).unwrap(),
                v
            );
        }
        let g = GroupValue {
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            current_state_timestamp: 12,
            members: vec![MemberValue {
                member_id: "m1".into(),
                group_instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 10_000,
                subscription: vec![1, 2],
                assignment: vec![3],
            }],
        };
        assert_eq!(
            decode_group_value(&encode_group_value(&g).unwrap()).unwrap(),
            g
        );
        assert!(decode_key(&[0, 9, 0, 0]).is_err());
        // Tightest v0 member (18 bytes) still decodes; a count the bytes cannot hold does not.
        let mut v0 = vec![0, 0, 0, 1, b'c', 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        v0.extend_from_slice(&1i32.to_be_bytes());
        v0.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(decode_group_value(&v0).unwrap().members.len(), 1);
        let mut hostile = v0[..13].to_vec();
        hostile.extend_from_slice(&100_000i32.to_be_bytes());
        hostile.extend_from_slice(&[0; 18 * 3]);
        assert_eq!(
            decode_group_value(&hostile),
            Err(FormatError("bad member count".into()))
        );
        assert!(decode_offset_value(&[0, 3, 0]).is_err());
    }

    #[test]
    fn strings_that_do_not_fit_are_refused_not_cut() {
        // 16384 two-byte characters: 32768 bytes, one more than an int16 length holds.
        let long = "é".repeat(16_384);
        let key = RecordKey::Group {
            group: long.clone(),
        };
        let e = encode_key(&key).unwrap_err();
        assert!(e.0.contains("group id is 32768 bytes"), "{e}");
        let fits = "é".repeat(16_383) + "x";
        assert_eq!(fits.len(), MAX_STRING_BYTES);
        let key = RecordKey::Group { group: fits };
        assert_eq!(decode_key(&encode_key(&key).unwrap()).unwrap(), key);
        let v = OffsetValue {
            offset: 1,
            leader_epoch: -1,
            metadata: long.clone(),
            commit_timestamp: 0,
            expire_timestamp: None,
        };
        assert!(encode_offset_value(&v).is_err());
        let g = GroupValue {
            protocol_type: "consumer".into(),
            generation: 1,
            protocol: Some(long),
            leader: None,
            current_state_timestamp: 0,
            members: Vec::new(),
        };
        assert!(encode_group_value(&g).unwrap_err().0.contains("protocol"));
    }
}
