//! The one Arrow schema of every archive row, whether written to Parquet beside a tiered
//! segment or by `strata export` (see the crate docs for the columns).
//!
//! Invariant: the column order and types here are the on-disk contract of the archive; a
//! change is a format change (migrations/FORMATS.md).

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// `timestamp_type` of a CreateTime record.
pub const CREATE_TIME: i8 = 0;
/// `timestamp_type` of a LogAppendTime record.
pub const LOG_APPEND_TIME: i8 = 1;

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

/// The fields of one header: `key` (UTF-8) and `value` (binary, nullable).
pub(crate) fn header_fields() -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Binary, true),
    ])
}

/// The item field of the `headers` list.
pub(crate) fn header_item() -> Field {
    Field::new("item", DataType::Struct(header_fields()), false)
}
