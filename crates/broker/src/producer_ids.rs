//! The epochs this broker has granted to idempotent producers, so that InitProducerId can bump
//! an epoch (KIP-360) only for the client that holds the current one.
//!
//! Invariants:
//! - a bump is granted only when the request presents exactly the epoch last granted for that
//!   producer id; any other epoch is refused with INVALID_PRODUCER_EPOCH, so no client can fence
//!   another client's producer by naming its id;
//! - a producer id this table does not know (never granted by this process, or evicted) gets a
//!   fresh producer id, as Kafka answers every non-transactional InitProducerId: that never
//!   fences anyone;
//! - the table is bounded ([`MAX_TRACKED`]); eviction only turns a later bump into a fresh id.

use std::collections::HashMap;

/// Most producer ids remembered.
pub(crate) const MAX_TRACKED: usize = 100_000;

/// What InitProducerId should answer for a presented `(producer id, epoch)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    /// Same id, this epoch.
    Bump(i16),
    /// Allocate a fresh producer id.
    Fresh,
    /// The presented epoch is not the current one.
    WrongEpoch {
        /// The epoch last granted.
        current: i16,
    },
}

/// Producer id → last granted epoch.
#[derive(Debug, Default)]
pub(crate) struct ProducerEpochs {
    epochs: HashMap<i64, i16>,
}

impl ProducerEpochs {
    /// Decides how to answer a request presenting `(id, epoch)`; records a bump.
    pub(crate) fn request(&mut self, id: i64, epoch: i16) -> Grant {
        match self.epochs.get(&id).copied() {
            None => Grant::Fresh,
            Some(current) if current != epoch => Grant::WrongEpoch { current },
            Some(current) if current >= i16::MAX - 1 => Grant::Fresh,
            Some(current) => {
                self.epochs.insert(id, current + 1);
                Grant::Bump(current + 1)
            }
        }
    }

    /// Records a fresh id granted with epoch 0.
    pub(crate) fn granted(&mut self, id: i64) {
        if self.epochs.len() >= MAX_TRACKED {
            // Forget an arbitrary half: a forgotten id only gets a fresh id on its next bump.
            let keep: Vec<(i64, i16)> = self
                .epochs
                .iter()
                .skip(MAX_TRACKED / 2)
                .map(|(k, v)| (*k, *v))
                .collect();
            self.epochs = keep.into_iter().collect();
        }
        self.epochs.insert(id, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_current_epoch_bumps() {
        let mut t = ProducerEpochs::default();
        assert_eq!(t.request(7, 0), Grant::Fresh, "unknown id");
        t.granted(7);
        assert_eq!(t.request(7, 3), Grant::WrongEpoch { current: 0 });
        assert_eq!(t.request(7, 0), Grant::Bump(1));
        assert_eq!(t.request(7, 0), Grant::WrongEpoch { current: 1 }, "zombie");
        assert_eq!(t.request(7, 1), Grant::Bump(2));
    }

    #[test]
    fn bounded() {
        let mut t = ProducerEpochs::default();
        for id in 0..(MAX_TRACKED as i64 + 10) {
            t.granted(id);
        }
        assert!(t.epochs.len() <= MAX_TRACKED);
        assert_eq!(t.request(MAX_TRACKED as i64 + 9, 0), Grant::Bump(1));
    }
}
