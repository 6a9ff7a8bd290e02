//! Idempotent-producer state: per producer id, the latest epoch and the last 5 batches'
//! `(first_seq, last_seq, base_offset, last_offset)` (Kafka `ProducerStateEntry`).
//!
//! Invariants: batches of one entry all carry the entry's epoch and are in append order; an
//! epoch bump clears them. The state is a pure function of the batch headers in the log, so it
//! is rebuilt by scanning headers after a crash; after a clean close it is loaded from the
//! versioned snapshot `producer-state.json` if that snapshot's `end_offset` equals the log end.
//! Control batches only advance the epoch.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use serde::{Deserialize, Serialize};
use strata_records::{increment_sequence, BatchHeader};

use crate::checkpoint::{read_optional, remove_optional, write_atomic};
use crate::LogError;

/// Batches remembered per producer for duplicate detection.
pub(crate) const BATCHES_TO_RETAIN: usize = 5;
pub(crate) const SNAPSHOT_FILE: &str = "producer-state.json";
const SNAPSHOT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct BatchMeta {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
    last_offset: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ProducerEntry {
    producer_id: i64,
    epoch: i16,
    batches: VecDeque<BatchMeta>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    end_offset: i64,
    producers: Vec<ProducerEntry>,
}

/// Outcome of checking a batch against producer state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceCheck {
    /// Write the batch.
    Append,
    /// Already written at these offsets; acknowledge without writing.
    Duplicate { base_offset: i64, last_offset: i64 },
}

/// Producer state of one partition.
#[derive(Debug, Default)]
pub(crate) struct ProducerState {
    producers: HashMap<i64, ProducerEntry>,
}

impl ProducerState {
    /// Decides whether a client batch may be appended (Kafka `ProducerAppendInfo`).
    pub(crate) fn check(&self, h: &BatchHeader) -> Result<SequenceCheck, LogError> {
        if h.producer_id < 0 || h.is_control() {
            return Ok(SequenceCheck::Append);
        }
        let out_of_order = |expected| LogError::OutOfOrderSequence {
            producer_id: h.producer_id,
            expected,
            found: h.base_sequence,
        };
        let Some(entry) = self.producers.get(&h.producer_id) else {
            return if h.base_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(out_of_order(0))
            };
        };
        if h.producer_epoch < entry.epoch {
            return Err(LogError::InvalidProducerEpoch {
                producer_id: h.producer_id,
                current: entry.epoch,
                found: h.producer_epoch,
            });
        }
        if h.producer_epoch > entry.epoch {
            return if h.base_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(out_of_order(0))
            };
        }
        let last_seq = h.last_sequence();
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq)
        {
            return Ok(SequenceCheck::Duplicate {
                base_offset: dup.base_offset,
                last_offset: dup.last_offset,
            });
        }
        let expected = match entry.batches.back() {
            Some(last) => increment_sequence(last.last_seq, 1),
            None => 0,
        };
        if h.base_sequence == expected {
            Ok(SequenceCheck::Append)
        } else {
            Err(out_of_order(expected))
        }
    }

    /// Records a batch that is now in the log (header with its assigned offsets).
    pub(crate) fn record(&mut self, h: &BatchHeader) {
        if h.producer_id < 0 {
            return;
        }
        let entry = self
            .producers
            .entry(h.producer_id)
            .or_insert_with(|| ProducerEntry {
                producer_id: h.producer_id,
                epoch: h.producer_epoch,
                batches: VecDeque::new(),
            });
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        if h.is_control() || h.base_sequence < 0 {
            return;
        }
        entry.batches.push_back(BatchMeta {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
        });
        while entry.batches.len() > BATCHES_TO_RETAIN {
            entry.batches.pop_front();
        }
    }

    /// Writes the snapshot for a log ending at `end_offset`.
    pub(crate) fn write_snapshot(&self, dir: &Path, end_offset: i64) -> Result<(), LogError> {
        let mut producers: Vec<ProducerEntry> = self.producers.values().cloned().collect();
        producers.sort_by_key(|p| p.producer_id);
        let snapshot = Snapshot {
            version: SNAPSHOT_VERSION,
            end_offset,
            producers,
        };
        let json = serde_json::to_vec(&snapshot)
            .map_err(|e| LogError::Corrupt(format!("encode {SNAPSHOT_FILE}: {e}")))?;
        write_atomic(dir, SNAPSHOT_FILE, &json)
    }

    /// Loads and removes the snapshot; `None` if absent, unreadable, of another version, or
    /// not taken at `end_offset`.
    pub(crate) fn take_snapshot(dir: &Path, end_offset: i64) -> Result<Option<Self>, LogError> {
        let text = read_optional(dir, SNAPSHOT_FILE)?;
        remove_optional(dir, SNAPSHOT_FILE)?;
        let Some(snapshot) = text.and_then(|t| serde_json::from_str::<Snapshot>(&t).ok()) else {
            return Ok(None);
        };
        if snapshot.version != SNAPSHOT_VERSION || snapshot.end_offset != end_offset {
            return Ok(None);
        }
        let producers = snapshot
            .producers
            .into_iter()
            .map(|p| (p.producer_id, p))
            .collect();
        Ok(Some(ProducerState { producers }))
    }
}
