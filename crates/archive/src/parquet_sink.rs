//! Rows to one Parquet file: zstd (level 3), row groups of at most [`MAX_ROW_GROUP_ROWS`] rows,
//! cut once the buffered group reaches [`MAX_ROW_GROUP_BYTES`] of encoded data — large enough
//! for scans to read long contiguous column chunks, small enough to bound the writer's memory
//! (a 1 GiB segment of small records makes a few groups, not hundreds).
//!
//! Invariant: rows are written in the order pushed; nothing is a valid Parquet file until
//! [`ParquetSink::finish`] has written the footer.

use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, Int16Builder, Int32Builder, Int64Builder, Int8Builder, ListBuilder,
    StringBuilder, StructBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::rows::Row;
use crate::schema::{header_fields, header_item, schema};
use crate::ArchiveError;

/// Most rows in one row group.
pub const MAX_ROW_GROUP_ROWS: usize = 1 << 20;
/// A row group is closed once its buffered (encoded, compressed) data reaches this many bytes.
pub const MAX_ROW_GROUP_BYTES: usize = 128 << 20;
/// Rows per Arrow batch handed to the writer.
const ARROW_BATCH_ROWS: usize = 8192;

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

    fn push(&mut self, row: &Row<'_>) {
        let r = row.record;
        self.offset.append_value(r.offset);
        self.timestamp.append_value(r.timestamp);
        self.timestamp_type.append_value(row.timestamp_type);
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
        self.partition.append_value(row.partition);
        self.producer_id.append_value(row.producer_id);
        self.producer_epoch.append_value(row.producer_epoch);
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

/// A Parquet file being written to `W`.
pub struct ParquetSink<W: Write + Send> {
    writer: ArrowWriter<W>,
    cols: Columns,
    schema: SchemaRef,
}

impl<W: Write + Send> ParquetSink<W> {
    /// Starts a file on `out`.
    pub fn new(out: W) -> Result<ParquetSink<W>, ArchiveError> {
        let schema = schema();
        Ok(ParquetSink {
            writer: ArrowWriter::try_new(out, schema.clone(), Some(properties()?))?,
            cols: Columns::new(),
            schema,
        })
    }

    /// Appends one row.
    pub fn push(&mut self, row: &Row<'_>) -> Result<(), ArchiveError> {
        self.cols.push(row);
        if self.cols.rows >= ARROW_BATCH_ROWS {
            self.writer.write(&self.cols.finish(&self.schema)?)?;
            if self.writer.in_progress_size() >= MAX_ROW_GROUP_BYTES {
                self.writer.flush()?;
            }
        }
        Ok(())
    }

    /// Writes the buffered rows and the footer; returns the output.
    pub fn finish(mut self) -> Result<W, ArchiveError> {
        if self.cols.rows > 0 {
            self.writer.write(&self.cols.finish(&self.schema)?)?;
        }
        Ok(self.writer.into_inner()?)
    }
}
