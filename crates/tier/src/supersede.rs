//! Which of a partition's manifests in the bucket are live: the rule a catalog rebuild, a
//! refresh and the sweep of superseded uploads share.
//!
//! Several manifests may describe the same offsets: an old and a new leader both uploaded a
//! segment, or a remote compaction replaced segments with a compacted one. All of them hold the
//! same committed records at the same offsets (a compacted one only fewer of the superseded
//! values), so any choice reads correctly; the rule picks one so that superseded uploads can
//! be deleted:
//! - uploads rank by the leader epoch their id names, then by upload time (newest first);
//! - of several manifests for one base offset, the best-ranked one is live;
//! - a manifest whose whole range `[base, end)` lies inside a better-ranked live one is
//!   superseded (a compaction's replacement covers the segments it replaced).
//!
//! Only the nearest live segment at or below a manifest's base is checked for covering: live
//! segments do not overlap, except where a new leader re-uploaded a straddling segment.

use std::collections::BTreeMap;

use crate::manifest::SegmentManifest;
use crate::refresh::upload_epoch;

/// The rank of an upload: greater is better.
pub(crate) fn rank(m: &SegmentManifest) -> (i32, i64) {
    (upload_epoch(&m.upload_id), m.uploaded_at_ms)
}

/// Splits one partition's manifests into `(live, superseded)`, each sorted by base offset.
pub(crate) fn split_live(
    mut manifests: Vec<SegmentManifest>,
) -> (Vec<SegmentManifest>, Vec<SegmentManifest>) {
    manifests.sort_by_key(|m| std::cmp::Reverse(rank(m)));
    let mut live: BTreeMap<i64, SegmentManifest> = BTreeMap::new();
    let mut superseded = Vec::new();
    for m in manifests {
        let covered = live
            .range(..=m.base_offset)
            .next_back()
            .is_some_and(|(&base, l)| base == m.base_offset || l.end_offset >= m.end_offset);
        if covered {
            superseded.push(m);
        } else {
            live.insert(m.base_offset, m);
        }
    }
    superseded.sort_by_key(|m| m.base_offset);
    (live.into_values().collect(), superseded)
}

/// The live manifest that supersedes `m` (see [`split_live`]), among `live`.
pub(crate) fn superseded_by<'a>(
    m: &SegmentManifest,
    live: &'a [SegmentManifest],
) -> Option<&'a SegmentManifest> {
    live.iter().find(|l| {
        l.upload_id != m.upload_id
            && rank(l) > rank(m)
            && l.base_offset <= m.base_offset
            && (l.base_offset == m.base_offset || l.end_offset >= m.end_offset)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::sample;

    fn upload(base: i64, end: i64, epoch: i32, at: i64) -> SegmentManifest {
        let mut m = sample(base, end);
        m.upload_id = format!("e{epoch}-{base}-{at}");
        m.uploaded_at_ms = at;
        m
    }

    fn bases(ms: &[SegmentManifest]) -> Vec<(i64, i64, i64)> {
        ms.iter()
            .map(|m| (m.base_offset, m.end_offset, m.uploaded_at_ms))
            .collect()
    }

    #[test]
    fn a_compaction_supersedes_the_segments_it_covers() {
        let old = vec![
            upload(0, 10, 0, 1),
            upload(10, 20, 0, 2),
            upload(20, 30, 0, 3),
            upload(30, 40, 0, 4),
        ];
        let mut all = old.clone();
        // Compacted [0, 30) (three segments merged), uploaded later in the same epoch.
        all.push(upload(0, 30, 0, 9));
        let (live, gone) = split_live(all);
        assert_eq!(bases(&live), vec![(0, 30, 9), (30, 40, 4)]);
        assert_eq!(bases(&gone), vec![(0, 10, 1), (10, 20, 2), (20, 30, 3)]);
        for g in &gone {
            assert_eq!(superseded_by(g, &live).unwrap().uploaded_at_ms, 9);
        }
        assert!(superseded_by(&old[3], &live).is_none());
    }

    #[test]
    fn the_higher_epoch_wins_a_base_and_partial_overlaps_stay() {
        // A new leader (epoch 2) re-uploaded [10, 25) after the old one uploaded [10, 20) and
        // [20, 30): the same base goes to epoch 2; [20, 30) is not wholly covered and stays.
        let all = vec![
            upload(10, 20, 1, 50),
            upload(20, 30, 1, 60),
            upload(10, 25, 2, 40),
        ];
        let (live, gone) = split_live(all);
        assert_eq!(bases(&live), vec![(10, 25, 40), (20, 30, 60)]);
        assert_eq!(bases(&gone), vec![(10, 20, 50)]);
        // An older compaction never supersedes a newer upload.
        let (live, gone) = split_live(vec![upload(0, 30, 0, 5), upload(10, 20, 1, 6)]);
        assert_eq!(bases(&live), vec![(0, 30, 5), (10, 20, 6)]);
        assert!(gone.is_empty());
    }
}
