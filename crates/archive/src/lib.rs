//! Segment bytes to Apache Arrow and Parquet: the queryable archive written beside each
//! tiered segment (see docs/tiering.md, "Parquet archive").
//!
//! [`segment_to_parquet`] turns the bytes of one log segment (concatenated v2 batches) into one
//! Parquet file with one row per record a read_committed consumer would see:
//!
//! | column | Arrow type | notes |
//! |---|---|---|
//! | `offset` | Int64 | absolute offset |
//! | `timestamp` | Timestamp(Millisecond, None) | the record's timestamp; for LogAppendTime batches the broker's (the batch max timestamp), as consumers see it |
//! | `timestamp_type` | Int8 | 0 CreateTime, 1 LogAppendTime |
//! | `key`, `value` | Binary, nullable | null stays null (a tombstone's value) |
//! | `headers` | List<Struct<key: Utf8, value: Binary nullable>> | wire order, duplicates kept; empty list when none |
//! | `partition` | Int32 | |
//! | `producer_id`, `producer_epoch` | Int64, Int16 | -1 for non-idempotent producers |
//!
//! What is left out, and how:
//! - Compressed batches (gzip, snappy, lz4, zstd) are decompressed by `strata_records`.
//! - Control batches (transaction markers) are skipped.
//! - Aborted transactional data is skipped with Kafka's read_committed algorithm: the caller
//!   passes the aborted transactions overlapping the segment (producer id and first offset, from
//!   the `.txnindex` of this segment and the later ones holding their ABORT markers); from the
//!   batch whose last offset reaches an aborted transaction's first offset, that producer's
//!   transactional batches are dropped until its ABORT marker. The caller must only convert a
//!   segment below the last stable offset, where every transaction is decided.
//!
//! The file is zstd-compressed (level 3). Row groups hold at most [`MAX_ROW_GROUP_ROWS`] rows
//! and are cut once the buffered group reaches [`MAX_ROW_GROUP_BYTES`] of encoded data: large
//! enough for scans to read long contiguous column chunks, small enough to bound the writer's
//! memory (a 1 GiB segment of small records makes a few groups, not hundreds).
//!
//! Invariants: the output holds rows in offset order; a malformed batch fails the whole
//! conversion (nothing partial is returned), so a caller never uploads a truncated archive.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, Int16Builder, Int32Builder, Int64Builder, Int8Builder, ListBuilder,
    StringBuilder, StructBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use strata_records::{batches, decode_records, parse_end_txn_marker, DecodedRecord};

/// Most rows in one row group.
pub const MAX_ROW_GROUP_ROWS: usize = 1 << 20;
/// A row group is closed once its buffered (encoded, compressed) data reaches this many bytes.
pub const MAX_ROW_GROUP_BYTES: usize = 128 << 20;
/// Rows per Arrow batch handed to the writer.
const ARROW_BATCH_ROWS: usize = 8192;

/// `timestamp_type` of a CreateTime record.
pub const CREATE_TIME: i8 = 0;
/// `timestamp_type` of a LogAppendTime record.
pub const LOG_APPEND_TIME: i8 = 1;

/// Why a segment could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A batch could not be read or decoded.
    #[error("segment batch at byte {position}: {source}")]
    Records {
        /// Byte position of the batch in the segment.
        position: usize,
        /// What was wrong with it.
        source: strata_records::RecordsError,
    },
    /// Arrow or Parquet refused the data.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Arrow refused the data.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

/// An aborted transaction overlapping the segment (Kafka's `AbortedTransaction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The transaction's producer id.
    pub producer_id: i64,
    /// Its first offset in this partition.
    pub first_offset: i64,
}

/// What one conversion did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveStats {
    /// Rows written.
    pub rows: u64,
    /// Batches read (control and aborted ones included).
    pub batches: u64,
    /// Control batches skipped.
    pub control_batches: u64,
    /// Records of aborted transactions skipped.
    pub aborted_records: u64,
}

/// The Arrow schema of every archive file.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("offset", DataType::Int64, false),
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("timestamp_type", DataType::Int8, false),
        Field::new("key", DataType::Binary, true),
        Field::new("value", DataType::Binary, true),
        Field::new("headers", DataType::List(Arc::new(header_item())), false),
        Field::new("partition", DataType::Int32, false),
        Field::new("producer_id", DataType::Int64, false),
        Field::new("producer_epoch", DataType::Int16, false),
    ]))
}

fn header_fields() -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Binary, true),
    ])
}

fn header_item() -> Field {
    Field::new("item", DataType::Struct(header_fields()), false)
}

/// Column builders for up to [`ARROW_BATCH_ROWS`] rows.
struct Columns {
    offset: Int64Builder,
    timestamp: TimestampMillisecondBuilder,
    timestamp_type: Int8Builder,
    key: BinaryBuilder,
    value: BinaryBuilder,
    headers: ListBuilder<StructBuilder>,
    partition: Int32Builder,
    producer_id: Int64Builder,
    producer_epoch: Int16Builder,
    rows: usize,
}

impl Columns {
    fn new() -> Columns {
        let header = StructBuilder::new(
            header_fields(),
            vec![
                Box::new(StringBuilder::new()),
                Box::new(BinaryBuilder::new()),
            ],
        );
        Columns {
            offset: Int64Builder::new(),
            timestamp: TimestampMillisecondBuilder::new(),
            timestamp_type: Int8Builder::new(),
            key: BinaryBuilder::new(),
            value: BinaryBuilder::new(),
            headers: ListBuilder::new(header).with_field(Arc::new(header_item())),
            partition: Int32Builder::new(),
            producer_id: Int64Builder::new(),
            producer_epoch: Int16Builder::new(),
            rows: 0,
        }
    }

    fn push(&mut self, r: &DecodedRecord, ts_type: i8, partition: i32, pid: i64, epoch: i16) {
        self.offset.append_value(r.offset);
        self.timestamp.append_value(r.timestamp);
        self.timestamp_type.append_value(ts_type);
        self.key.append_option(r.key.as_deref());
        self.value.append_option(r.value.as_deref());
        let items = self.headers.values();
        for (k, v) in &r.headers {
            items
                .field_builder::<StringBuilder>(0)
                .expect("header key builder")
                .append_value(String::from_utf8_lossy(k));
            items
                .field_builder::<BinaryBuilder>(1)
                .expect("header value builder")
                .append_option(v.as_deref());
            items.append(true);
        }
        self.headers.append(true);
        self.partition.append_value(partition);
        self.producer_id.append_value(pid);
        self.producer_epoch.append_value(epoch);
        self.rows += 1;
    }

    fn finish(&mut self, schema: &SchemaRef) -> Result<RecordBatch, ArchiveError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.offset.finish()),
            Arc::new(self.timestamp.finish()),
            Arc::new(self.timestamp_type.finish()),
            Arc::new(self.key.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.headers.finish()),
            Arc::new(self.partition.finish()),
            Arc::new(self.producer_id.finish()),
            Arc::new(self.producer_epoch.finish()),
        ];
        self.rows = 0;
        Ok(RecordBatch::try_new(schema.clone(), columns)?)
    }
}

/// The writer settings of every archive file: zstd level 3, row groups of at most
/// [`MAX_ROW_GROUP_ROWS`] rows.
fn properties() -> Result<WriterProperties, ArchiveError> {
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_size(MAX_ROW_GROUP_ROWS)
        .set_created_by("strata-archive".to_string())
        .build())
}

/// Converts the bytes of one segment of partition `partition` to a Parquet file; see the
/// module docs for the schema and what is skipped. `aborted` lists the aborted transactions
/// overlapping the segment, in any order.
pub fn segment_to_parquet(
    segment: &[u8],
    partition: i32,
    aborted: &[AbortedTxn],
) -> Result<(Vec<u8>, ArchiveStats), ArchiveError> {
    let schema = schema();
    let mut writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(properties()?))?;
    let mut stats = ArchiveStats::default();
    let mut aborted: Vec<AbortedTxn> = aborted.to_vec();
    aborted.sort_by_key(|a| a.first_offset);
    let mut next_aborted = 0;
    let mut ongoing: HashSet<i64> = HashSet::new();
    let mut cols = Columns::new();
    for item in batches(segment) {
        let (position, header) = item.map_err(|source| ArchiveError::Records {
            position: segment.len(),
            source,
        })?;
        let fail = |source| ArchiveError::Records { position, source };
        stats.batches += 1;
        let batch = &segment[position..position + header.total_len()];
        while next_aborted < aborted.len()
            && aborted[next_aborted].first_offset <= header.last_offset()
        {
            ongoing.insert(aborted[next_aborted].producer_id);
            next_aborted += 1;
        }
        if header.is_control() {
            stats.control_batches += 1;
            if let Some(marker) = parse_end_txn_marker(batch).map_err(fail)? {
                if !marker.commit {
                    ongoing.remove(&header.producer_id);
                }
            }
            continue;
        }
        let records = decode_records(batch).map_err(fail)?;
        if header.is_transactional() && ongoing.contains(&header.producer_id) {
            stats.aborted_records += records.len() as u64;
            continue;
        }
        let ts_type = if header.is_log_append_time() {
            LOG_APPEND_TIME
        } else {
            CREATE_TIME
        };
        for r in &records {
            cols.push(
                r,
                ts_type,
                partition,
                header.producer_id,
                header.producer_epoch,
            );
            stats.rows += 1;
            if cols.rows >= ARROW_BATCH_ROWS {
                writer.write(&cols.finish(&schema)?)?;
                if writer.in_progress_size() >= MAX_ROW_GROUP_BYTES {
                    writer.flush()?;
                }
            }
        }
    }
    if cols.rows > 0 {
        writer.write(&cols.finish(&schema)?)?;
    }
    let out = writer.into_inner()?;
    Ok((out, stats))
}

#[cfg(test)]
mod tests;
