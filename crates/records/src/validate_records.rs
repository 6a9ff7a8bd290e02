//! Record-level validation of one client batch, as Kafka's `LogValidator` does it, in one pass.
//!
//! [`crate::validate_client_batch`] checks the header (CRC, count vs. offset range, control
//! bit, codec). [`validate_records`] then walks the records section and checks that the
//! records agree with that header, for every codec:
//!
//! 1. each record's length is a non-negative varint and the record lies inside the section;
//! 2. its offset delta equals its index (`0, 1, 2, …`), so the last one is `last_offset_delta`
//!    (Kafka rewrites a compressed batch whose inner offsets are off and ignores them in an
//!    uncompressed one; Strata never re-encodes and consumers compute offsets as base + delta,
//!    so it refuses both);
//! 3. key and value lengths are -1 (null) or fit in the record (Kafka reads any negative
//!    length as null; Strata refuses lengths below -1); the header count is non-negative;
//!    each header key is non-null and fits, each header value is null or fits;
//! 4. the fields use exactly the record's length (no trailing bytes in a record);
//! 5. exactly `records_count` records: none missing, nothing after the last one;
//! 6. keys and timestamps, only once the structure is sound ([`RecordRules`]), one error at
//!    most per record, the key first (Kafka's `validateRecord`):
//!    - on a compacted topic (`cleanup.policy` contains `compact`) each record has a non-null
//!      key (Kafka's `validateKey`): a keyless record could never be cleaned away;
//!    - on a CreateTime topic each record timestamp other than -1 lies in
//!      `[now - before.max.ms, now + after.max.ms]`; a client batch flagged LogAppendTime is
//!      refused when the topic is LogAppendTime or a record has no timestamp (Kafka's
//!      `validateTimestamp`, including that quirk).
//!
//! A structural failure (1–5) is [`RecordsError::BadRecord`] (`INVALID_RECORD`, no per-record
//! errors, as Kafka throws `InvalidRecordException` from its record iterator). Key and
//! timestamp failures are collected for every record (up to [`MAX_RECORD_ERRORS`]) and returned
//! together, as Kafka's `processRecordErrors`: [`RecordsError::InvalidTimestamp`]
//! (`INVALID_TIMESTAMP`) if any timestamp failed, else [`RecordsError::RecordErrors`]
//! (`INVALID_RECORD`), both with Produce v8+ `record_errors`. Either way the whole batch is
//! refused.
//!
//! Cost and memory: an uncompressed section is read in place with no allocation on success.
//! A compressed one is decompressed through a 64 KiB window ([`crate::record_stream`]) and
//! never held; decompressing more than [`MAX_DECOMPRESSED_BYTES`] stops with an error.

use crate::record_stream::{SliceSource, SnappyReader, Source, StreamSource};
use crate::{BatchHeader, Compression, RecordsError, BATCH_HEADER_LEN, MAX_DECOMPRESSED_BYTES};

/// At most this many per-record errors are reported for one batch.
pub const MAX_RECORD_ERRORS: usize = 1000;

/// Kafka's `RecordBatch.NO_TIMESTAMP`.
const NO_TIMESTAMP: i64 = -1;

/// The topic settings that govern record checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRules<'a> {
    /// The topic uses `message.timestamp.type=LogAppendTime`.
    pub log_append_time: bool,
    /// `message.timestamp.before.max.ms`: how far in the past a CreateTime timestamp may be.
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far in the future a CreateTime timestamp may be.
    pub timestamp_after_max_ms: i64,
    /// `Some(topic-partition)` when the topic is compacted (`cleanup.policy` contains
    /// `compact`): every record needs a key. The name (`topic-partition`, as Kafka's
    /// `TopicPartition` prints) goes into the per-record error messages.
    pub compacted_topic: Option<&'a str>,
}

impl Default for RecordRules<'_> {
    /// Kafka 4's defaults: CreateTime, any age in the past, at most one hour ahead, not
    /// compacted.
    fn default() -> Self {
        RecordRules {
            log_append_time: false,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: 3_600_000,
            compacted_topic: None,
        }
    }
}

/// What one pass over a valid batch's records found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordsSummary {
    /// The largest record timestamp (-1 if no record has one). For a CreateTime batch this is
    /// the max timestamp the header should carry; Kafka overwrites the header with it.
    pub max_timestamp: i64,
}

/// Validates the records of one client batch `batch` (exactly one batch, its header already
/// accepted by [`crate::validate_client_batch`], as `header`) at time `now_ms`.
pub fn validate_records(
    batch: &[u8],
    header: &BatchHeader,
    rules: &RecordRules<'_>,
    now_ms: i64,
) -> Result<RecordsSummary, RecordsError> {
    let total = header.total_len();
    let Some(section) = batch.get(BATCH_HEADER_LEN..total) else {
        return Err(RecordsError::Truncated {
            need: total,
            have: batch.len(),
        });
    };
    let limit = MAX_DECOMPRESSED_BYTES;
    match header.compression()? {
        Compression::None => walk(&mut SliceSource::new(section), header, rules, now_ms),
        Compression::Gzip => walk(
            &mut StreamSource::new(flate2::read::MultiGzDecoder::new(section), "gzip", limit),
            header,
            rules,
            now_ms,
        ),
        Compression::Snappy => walk(
            &mut StreamSource::new(SnappyReader::new(section, limit), "snappy", limit),
            header,
            rules,
            now_ms,
        ),
        Compression::Lz4 => walk(
            &mut StreamSource::new(lz4_flex::frame::FrameDecoder::new(section), "lz4", limit),
            header,
            rules,
            now_ms,
        ),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(section)
                .map_err(|e| RecordsError::Decompress(format!("zstd: {e}")))?;
            walk(
                &mut StreamSource::new(decoder, "zstd", limit),
                header,
                rules,
                now_ms,
            )
        }
    }
}

/// Turns a low-level read error inside record `index` into a record error; codec failures
/// and the output cap stay as they are.
fn in_record(index: i32, e: RecordsError) -> RecordsError {
    match e {
        RecordsError::Truncated { .. } => RecordsError::BadRecord {
            index,
            reason: "record data ends early",
        },
        RecordsError::InvalidRecord(reason) => RecordsError::BadRecord { index, reason },
        other => other,
    }
}

fn bad(index: i32, reason: &'static str) -> RecordsError {
    RecordsError::BadRecord { index, reason }
}

/// Skips a length-prefixed field of record `index` ending at `end`; `nullable` allows -1.
/// Returns whether the field is null.
#[inline]
fn field<S: Source>(
    src: &mut S,
    index: i32,
    end: u64,
    nullable: bool,
    what: &'static str,
) -> Result<bool, RecordsError> {
    let len = src.varint().map_err(|e| in_record(index, e))?;
    if len < 0 {
        return if len == -1 && nullable {
            Ok(true)
        } else {
            Err(bad(index, what))
        };
    }
    if src.position() + len as u64 > end {
        return Err(bad(index, "a field exceeds its record"));
    }
    src.skip(len as usize).map_err(|e| in_record(index, e))?;
    Ok(false)
}

/// What the walk needs of one structurally sound record.
struct RecordFacts {
    timestamp_delta: i64,
    /// The key is null.
    keyless: bool,
}

/// One record's structure; returns its timestamp delta and whether it has a key.
#[inline]
fn record<S: Source>(src: &mut S, index: i32) -> Result<RecordFacts, RecordsError> {
    let len = match src.varint() {
        Ok(len) => len,
        Err(RecordsError::Truncated { .. }) => {
            return Err(bad(
                index,
                "the batch holds fewer records than its header declares",
            ))
        }
        Err(e) => return Err(in_record(index, e)),
    };
    if len < 0 {
        return Err(bad(index, "negative record length"));
    }
    let start = src.position();
    let end = start + len as u64;
    let fields = |src: &mut S| -> Result<i64, RecordsError> {
        src.byte()?; // attributes: unused in v2 records
        let timestamp_delta = src.varlong()?;
        let offset_delta = src.varint()?;
        if offset_delta != index {
            return Err(RecordsError::InvalidRecord(
                "offset delta differs from the record's position in the batch",
            ));
        }
        Ok(timestamp_delta)
    };
    let timestamp_delta = fields(src).map_err(|e| in_record(index, e))?;
    if src.position() > end {
        return Err(bad(index, "record length is shorter than its fields"));
    }
    let keyless = field(src, index, end, true, "invalid key length")?;
    field(src, index, end, true, "invalid value length")?;
    let headers = src.varint().map_err(|e| in_record(index, e))?;
    if headers < 0 {
        return Err(bad(index, "negative header count"));
    }
    // Each header takes at least two bytes, which bounds the loop on a hostile count.
    if headers as u64 * 2 > end.saturating_sub(src.position()) {
        return Err(bad(index, "header count exceeds its record"));
    }
    for _ in 0..headers {
        field(src, index, end, false, "invalid header key length")?;
        field(src, index, end, true, "invalid header value length")?;
    }
    if src.position() != end {
        return Err(bad(index, "record length does not match its fields"));
    }
    Ok(RecordFacts {
        timestamp_delta,
        keyless,
    })
}

fn walk<S: Source>(
    src: &mut S,
    header: &BatchHeader,
    rules: &RecordRules<'_>,
    now_ms: i64,
) -> Result<RecordsSummary, RecordsError> {
    let batch_log_append = header.is_log_append_time();
    let mut max_timestamp = NO_TIMESTAMP;
    let mut errors: Vec<(i32, String)> = Vec::new();
    // Every failed record, and whether any of them failed its timestamp.
    let mut failed = 0usize;
    let mut timestamp_failed = false;
    for index in 0..header.records_count.max(0) {
        let facts = record(src, index)?;
        let timestamp = if batch_log_append {
            header.max_timestamp
        } else {
            header.base_timestamp.wrapping_add(facts.timestamp_delta)
        };
        max_timestamp = max_timestamp.max(timestamp);
        let error = match rules.compacted_topic {
            Some(tp) if facts.keyless => Some(key_error(tp)),
            _ => timestamp_error(timestamp, index, batch_log_append, rules, now_ms).inspect(|_| {
                timestamp_failed = true;
            }),
        };
        if let Some(message) = error {
            failed += 1;
            if errors.len() < MAX_RECORD_ERRORS {
                errors.push((index, message));
            }
        }
    }
    if !src
        .at_end()
        .map_err(|e| in_record(header.records_count, e))?
    {
        return Err(bad(
            header.records_count,
            "records remain after the count its header declares",
        ));
    }
    if timestamp_failed {
        return Err(RecordsError::InvalidTimestamp {
            record_errors: errors,
        });
    }
    if !errors.is_empty() {
        return Err(RecordsError::RecordErrors {
            total: failed,
            record_errors: errors,
        });
    }
    Ok(RecordsSummary { max_timestamp })
}

/// Kafka's `LogValidator.validateKey` message for a keyless record in compacted `tp`.
fn key_error(tp: &str) -> String {
    format!("Compacted topic cannot accept message without key in topic partition {tp}")
}

/// Kafka's `LogValidator.validateTimestamp` for record `index` with `timestamp`.
fn timestamp_error(
    timestamp: i64,
    index: i32,
    batch_log_append: bool,
    rules: &RecordRules<'_>,
    now_ms: i64,
) -> Option<String> {
    if !rules.log_append_time && timestamp != NO_TIMESTAMP {
        let diff = i128::from(now_ms) - i128::from(timestamp);
        if diff > i128::from(rules.timestamp_before_max_ms)
            || -diff > i128::from(rules.timestamp_after_max_ms)
        {
            return Some(format!(
                "Timestamp {timestamp} of message with offset {index} is out of range. \
                 The timestamp should be within [{}, {}]",
                now_ms.saturating_sub(rules.timestamp_before_max_ms),
                now_ms.saturating_add(rules.timestamp_after_max_ms)
            ));
        }
        None
    } else if batch_log_append {
        Some(format!(
            "Invalid timestamp type in message with offset {index}. \
             Producer should not set timestamp type to LogAppendTime."
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::build_compressed_batch;
    use crate::validate_client_batch;

    const NOW: i64 = 1_700_000_000_000;
    const CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn check(batch: &[u8], rules: &RecordRules<'_>) -> Result<RecordsSummary, RecordsError> {
        let header = validate_client_batch(batch).unwrap();
        validate_records(batch, &header, rules, NOW)
    }

    fn compacted(tp: &str) -> RecordRules<'_> {
        RecordRules {
            compacted_topic: Some(tp),
            ..RecordRules::default()
        }
    }

    #[test]
    fn compacted_topics_refuse_keyless_records_for_every_codec() {
        let message = "Compacted topic cannot accept message without key in topic partition t-3";
        for codec in CODECS {
            let records: [crate::testing::TestRecord<'_>; 4] = [
                (Some(b"k"), Some(b"v"), 0),
                (None, Some(b"v"), 1),
                (Some(b"k"), None, 2),
                (None, None, 3), // a keyless tombstone too
            ];
            let batch = build_compressed_batch(codec, NOW, &records, -1, -1, -1);
            let err = check(&batch, &compacted("t-3")).unwrap_err();
            assert_eq!(err.kafka_error_code(), 87, "{codec:?}");
            assert_eq!(
                err.record_errors(),
                &[(1, message.to_string()), (3, message.to_string())],
                "{codec:?}"
            );
            assert_eq!(
                err.to_string(),
                format!(
                    "One or more records have been rejected due to 2 record errors in total, and \
                     only showing the first three errors at most: [RecordError(batchIndex=1, \
                     message='{message}'), RecordError(batchIndex=3, message='{message}')]"
                ),
                "{codec:?}"
            );
            // The same batch is fine on a topic that is not compacted.
            let summary = check(&batch, &RecordRules::default()).unwrap();
            assert_eq!(summary.max_timestamp, NOW + 3, "{codec:?}");
        }
    }

    #[test]
    fn compacted_topics_take_keyed_records_and_report_at_most_three_in_the_message() {
        let keyed = build_compressed_batch(
            Compression::Lz4,
            NOW,
            &[(Some(b""), Some(b"v"), 0), (Some(b"k"), None, 0)],
            -1,
            -1,
            -1,
        );
        // An empty key is a key (Kafka's `hasKey` is "not null").
        assert_eq!(check(&keyed, &compacted("t-0")).unwrap().max_timestamp, NOW);
        let keyless: Vec<crate::testing::TestRecord<'_>> =
            (0..5).map(|i| (None, Some(&b"v"[..]), i)).collect();
        let batch = build_compressed_batch(Compression::None, NOW, &keyless, -1, -1, -1);
        let err = check(&batch, &compacted("c-0")).unwrap_err();
        let indexes: Vec<i32> = err.record_errors().iter().map(|(i, _)| *i).collect();
        assert_eq!(indexes, [0, 1, 2, 3, 4]);
        let text = err.to_string();
        assert!(text.starts_with("One or more records have been rejected due to 5 record errors"));
        assert_eq!(text.matches("RecordError(").count(), 3, "{text}");
    }

    #[test]
    fn a_missing_key_comes_before_a_timestamp_error_but_any_timestamp_error_wins_the_batch() {
        let hour = 3_600_000;
        // Record 0: keyless and in the future (reported for its key, as Kafka's
        // `validateRecord`); record 1: keyed and in the future.
        let batch = build_compressed_batch(
            Compression::Gzip,
            NOW + 2 * hour,
            &[(None, Some(b"v"), 0), (Some(b"k"), Some(b"v"), 0)],
            -1,
            -1,
            -1,
        );
        let err = check(&batch, &compacted("t-0")).unwrap_err();
        assert_eq!(err.kafka_error_code(), 32);
        let errors = err.record_errors();
        assert_eq!(errors.len(), 2);
        assert_eq!(
            errors[0],
            (
                0,
                "Compacted topic cannot accept message without key in topic partition t-0"
                    .to_string()
            )
        );
        assert!(errors[1].1.starts_with("Timestamp "), "{:?}", errors[1]);
        assert_eq!(
            err.to_string(),
            "One or more records have been rejected due to invalid timestamp"
        );
    }
}
