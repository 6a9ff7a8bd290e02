//! Object key layout in the bucket.
//!
//! `v1/<topic id>/<partition>/<base offset, 20 digits>-<upload id>.<ext>` with `ext` one of
//! `log`, `index`, `timeindex`, `txnindex`, `snapshot`, `manifest.json` (the `txnindex` and
//! `snapshot` objects exist only when a version 2 manifest names them), relative to the store's prefix. The upload id
//! is `e<leader epoch>-<uuid>` (the uploader's leader epoch; older uploads have a bare uuid).
//!
//! Parquet archives (topics with `strata.parquet.enable=true`) live outside the layout version,
//! Hive-style, so that query engines read them by glob
//! (`read_parquet('s3://bucket/prefix/parquet/**/*.parquet')`):
//! `parquet/topic=<topic name>/partition=<partition>/<base offset, 20 digits>.parquet`. The key
//! has no upload id: it names the segment's data, which every upload of that segment shares.
//!
//! Invariants: a key names its topic id, partition, base offset and a unique upload id, so a
//! retried or concurrent upload of the same segment never overwrites a committed one; the
//! manifest is written last, so a segment whose manifest exists is complete.

/// Layout version, the first path component.
pub const LAYOUT_VERSION: &str = "v1";
/// Extension of segment manifests.
pub const MANIFEST_EXT: &str = "manifest.json";

/// The objects of one uploaded segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentKeys {
    /// The `.log` object.
    pub log: String,
    /// The `.index` object.
    pub offset_index: String,
    /// The `.timeindex` object.
    pub time_index: String,
    /// The `.txnindex` object (aborted transactions), if the manifest names one.
    pub txn_index: String,
    /// The `.snapshot` object (producer state at the segment's end), if the manifest names one.
    pub producer_snapshot: String,
    /// The manifest object.
    pub manifest: String,
}

impl SegmentKeys {
    /// Keys for one upload of one segment.
    pub fn new(topic_id: &str, partition: i32, base_offset: i64, upload_id: &str) -> SegmentKeys {
        let stem = format!(
            "{}{base_offset:020}-{upload_id}",
            partition_prefix(topic_id, partition)
        );
        SegmentKeys {
            log: format!("{stem}.log"),
            offset_index: format!("{stem}.index"),
            time_index: format!("{stem}.timeindex"),
            txn_index: format!("{stem}.txnindex"),
            producer_snapshot: format!("{stem}.snapshot"),
            manifest: format!("{stem}.{MANIFEST_EXT}"),
        }
    }

    /// Every key an upload may write, manifest last (deleting a missing object succeeds, so
    /// this is also the list to delete).
    pub fn all(&self) -> [&str; 6] {
        [
            &self.log,
            &self.offset_index,
            &self.time_index,
            &self.txn_index,
            &self.producer_snapshot,
            &self.manifest,
        ]
    }
}

/// Prefix of every object of a partition (ends with '/').
pub fn partition_prefix(topic_id: &str, partition: i32) -> String {
    format!("{LAYOUT_VERSION}/{topic_id}/{partition}/")
}

/// Prefix of every object of a topic (ends with '/').
pub fn topic_prefix(topic_id: &str) -> String {
    format!("{LAYOUT_VERSION}/{topic_id}/")
}

/// Top-level prefix of the Parquet archives (ends with '/').
pub const PARQUET_PREFIX: &str = "parquet/";

/// The Parquet archive of the segment of `topic`/`partition` starting at `base_offset`.
pub fn parquet_key(topic: &str, partition: i32, base_offset: i64) -> String {
    format!("{PARQUET_PREFIX}topic={topic}/partition={partition}/{base_offset:020}.parquet")
}

/// Parses `(topic id, partition, base offset, upload id)` out of any segment object key.
pub fn parse(key: &str) -> Option<(String, i32, i64, String)> {
    let mut parts = key.split('/');
    if parts.next()? != LAYOUT_VERSION {
        return None;
    }
    let topic_id = parts.next()?.to_string();
    let partition: i32 = parts.next()?.parse().ok()?;
    let file = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let (base, rest) = file.split_once('-')?;
    let base_offset: i64 = base.parse().ok()?;
    let upload_id = rest.split('.').next()?.to_string();
    Some((topic_id, partition, base_offset, upload_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let k = SegmentKeys::new("6f1d2c3b-0000-4000-8000-00000000a001", 3, 42, "u1");
        assert_eq!(
            k.manifest,
            "v1/6f1d2c3b-0000-4000-8000-00000000a001/3/00000000000000000042-u1.manifest.json"
        );
        for key in k.all() {
            assert_eq!(
                parse(key),
                Some((
                    "6f1d2c3b-0000-4000-8000-00000000a001".into(),
                    3,
                    42,
                    "u1".into()
                ))
            );
        }
        assert_eq!(parse("v2/x/1/00000000000000000001-u.log"), None);
        assert_eq!(parse("v1/x/y/00000000000000000001-u.log"), None);
        let pq = parquet_key("orders", 2, 1234);
        assert_eq!(
            pq,
            "parquet/topic=orders/partition=2/00000000000000001234.parquet"
        );
        assert_eq!(parse(&pq), None, "not a segment object");
    }
}
