//! Replaying a `__transaction_state` partition into its transactional ids when this broker
//! becomes its leader: every record from the log start, last value per key wins, a tombstone
//! deletes. `PrepareEpochFence` (written by Kafka) is read as `PrepareAbort`.

use bytes::Bytes;
use strata_coordinator::{InternalLog, StorageError};
use strata_records::{batches, decode_records};

use crate::coordinator::Txns;
use crate::format::{decode_key, decode_value};
use crate::state::TxnState;

const READ_CHUNK: usize = 1 << 20;

/// The ids stored in `log`.
pub(crate) fn replay(log: &dyn InternalLog) -> Result<Txns, StorageError> {
    let mut txns = Txns::new();
    let (mut offset, end) = log.bounds();
    while offset < end {
        let buf = Bytes::from(log.read(offset, READ_CHUNK)?);
        if buf.is_empty() {
            break;
        }
        let before = offset;
        for item in batches(&buf) {
            let (pos, header) = item?;
            offset = header.last_offset() + 1;
            if header.is_control() {
                continue;
            }
            for record in decode_records(&buf[pos..pos + header.total_len()])? {
                let Some(key) = record.key else {
                    continue;
                };
                let id = decode_key(&key).map_err(|e| StorageError::Format(e.0))?;
                match record.value {
                    Some(v) => {
                        let mut m = decode_value(&id, &v).map_err(|e| StorageError::Format(e.0))?;
                        if m.state == TxnState::PrepareEpochFence {
                            m.state = TxnState::PrepareAbort;
                        }
                        txns.insert(id, m);
                    }
                    None => {
                        txns.remove(&id);
                    }
                }
            }
        }
        if offset == before {
            break;
        }
    }
    Ok(txns)
}
