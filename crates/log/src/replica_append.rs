//! The replicated write path: a follower's append of batches its leader already assigned, and
//! a high watermark that the replica layer sets (the minimum over the ISR) instead of the log.
//!
//! Invariants:
//! - [`PartitionLog::append_as_follower`] takes a buffer of whole batches exactly as the
//!   leader's log holds them (base offsets, leader epochs and CRCs untouched): the first must
//!   start at or after this log's end and each next one at or after where the previous ended
//!   (a gap is what the log cleaner leaves on a compacted leader, as in Kafka), and every CRC
//!   must hold; otherwise nothing of the buffer is written (CORRUPT_MESSAGE / INVALID_RECORD).
//!   `max.message.bytes` is the leader's check, not the follower's (as in Kafka);
//! - the leader-epoch cache learns each batch's epoch, the producer state each batch's
//!   producer and transaction (markers included: an ABORT adds the `.txnindex` entry), as on
//!   the leader;
//! - it never fsyncs under the caller's lock: with `durability` set to fsync the returned
//!   `sync_end` tells the caller (the group-commit flusher) how far to sync before this copy
//!   may count toward the high watermark (`strata.replica.fsync`, Redpanda's rule);
//! - once [`PartitionLog::set_replicated`] is on, no append, flush or roll moves the high
//!   watermark: only [`PartitionLog::set_high_watermark`] does, clamped to the log's bounds
//!   (it may move down on a follower, after a truncation).

use strata_records::{compute_crc, BatchHeader, RecordsError};

use crate::durability::Durability;
use crate::{LogError, PartitionLog};

/// What a follower append wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaAppend {
    /// Offset of the first record written (the log end before the append).
    pub first_offset: i64,
    /// The log end after the append.
    pub log_end: i64,
    /// Batches written.
    pub batches: usize,
    /// The durable end a group-commit fsync must reach before this copy counts (`None`: it
    /// counts now).
    pub sync_end: Option<i64>,
}

impl PartitionLog {
    /// Switches the high watermark to external control (a replicated partition) or back to
    /// the log's own single-replica rule.
    pub fn set_replicated(&mut self, replicated: bool) {
        self.replicated = replicated;
    }

    /// True while the replica layer sets the high watermark.
    pub fn is_replicated(&self) -> bool {
        self.replicated
    }

    /// Sets the high watermark (replicated partitions), clamped to `[log start, log end]`.
    pub fn set_high_watermark(&mut self, high_watermark: i64) {
        self.high_watermark = high_watermark
            .min(self.log_end_offset())
            .max(self.log_start_offset);
    }

    /// Appends batches the leader assigned (see the module docs).
    pub fn append_as_follower(
        &mut self,
        batches: &[u8],
        now_ms: i64,
        durability: Durability,
    ) -> Result<ReplicaAppend, LogError> {
        self.ensure_online()?;
        let first_offset = self.log_end_offset();
        let headers = check_batches(batches, first_offset)?;
        let mut at = 0;
        let mut sealed = false;
        for header in &headers {
            let len = header.total_len();
            let batch = &batches[at..at + len];
            at += len;
            let rolled = match self.maybe_roll(len, header.last_offset_delta, now_ms, false) {
                Ok(rolled) => rolled,
                Err(e) => return Err(self.fail_on_io("roll", e)),
            };
            sealed |= rolled;
            let position = self.active().size;
            if let Err((operation, e)) = self.write_follower_batch(batch, header, now_ms) {
                if matches!(e, LogError::Io { .. }) {
                    self.cut_active_to(position);
                }
                return Err(self.fail_on_io(operation, e));
            }
        }
        let log_end = self.log_end_offset();
        let must_sync = durability == Durability::Fsync || sealed;
        self.note_appended(durability == Durability::Fsync);
        Ok(ReplicaAppend {
            first_offset,
            log_end,
            batches: headers.len(),
            sync_end: (must_sync && log_end > self.durable_end).then_some(log_end),
        })
    }

    fn write_follower_batch(
        &mut self,
        batch: &[u8],
        header: &BatchHeader,
        now_ms: i64,
    ) -> Result<(), (&'static str, LogError)> {
        // Read before the write: a marker that does not parse writes nothing.
        let marker = if header.is_control() {
            strata_records::parse_end_txn_marker(batch).map_err(|e| ("marker", e.into()))?
        } else {
            None
        };
        let interval = self.config.index_interval_bytes as u64;
        let active = self
            .segments
            .last_mut()
            .expect("a log always has a segment");
        active
            .append(&[batch], header, interval, now_ms)
            .map_err(|e| ("write", e))?;
        if self
            .epochs
            .assign(header.partition_leader_epoch, header.base_offset)
        {
            crate::checkpoint::write_leader_epochs(&self.dir, self.epochs.entries())
                .map_err(|e| ("leader-epoch-checkpoint", e))?;
        }
        self.record_in_producer_state(header, marker)
            .map_err(|e| ("txn-index", e))?;
        self.unflushed_messages = self
            .unflushed_messages
            .saturating_add(header.records_count.max(0) as u64);
        Ok(())
    }
}

/// Parses and checks every batch of a follower buffer before anything is written.
fn check_batches(batches: &[u8], log_end: i64) -> Result<Vec<BatchHeader>, LogError> {
    let mut headers = Vec::new();
    let mut at = 0;
    let mut next = log_end;
    while at < batches.len() {
        let header = BatchHeader::parse(&batches[at..])?;
        let len = header.total_len();
        if batches.len() - at < len {
            return Err(RecordsError::Truncated {
                need: len,
                have: batches.len() - at,
            }
            .into());
        }
        if header.base_offset < next || header.last_offset_delta < 0 {
            return Err(
                RecordsError::InvalidRecord("replicated batches must not overlap the log").into(),
            );
        }
        let crc = compute_crc(&batches[at..at + len]);
        if crc != header.crc {
            return Err(RecordsError::CorruptMessage {
                expected: header.crc,
                actual: crc,
            }
            .into());
        }
        next = header.last_offset() + 1;
        at += len;
        headers.push(header);
    }
    Ok(headers)
}
