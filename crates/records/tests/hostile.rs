//! Hostile input never panics: random bytes and randomly mutated valid batches (with the CRC
//! repaired so mutations reach the record decoder) for every codec.

use strata_records::testing::build_compressed_batch;
use strata_records::*;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn exercise(buf: &[u8]) {
    let _ = BatchHeader::parse(buf).map(|h| (h.compression(), h.last_sequence(), h.total_len()));
    let _ = validate_client_batch(buf);
    let _ = record_timestamps(buf);
    for item in batches(buf) {
        let _ = item;
    }
    let mut copy = buf.to_vec();
    patch_base_offset(&mut copy, 1);
    patch_leader_epoch(&mut copy, 1);
    set_log_append_time(&mut copy, 1);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x9e3779b97f4a7c15);
    for _ in 0..20_000 {
        let len = rng.below(200);
        let mut buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if len > 16 && rng.below(2) == 0 {
            buf[16] = 2; // reach past the magic check
        }
        exercise(&buf);
    }
}

#[test]
fn mutated_batches_never_panic() {
    let mut rng = XorShift(42);
    let records: Vec<strata_records::testing::TestRecord<'_>> = vec![
        (Some(&b"k"[..]), Some(&b"some value bytes"[..]), 0),
        (None, Some(&b"v2"[..]), 5),
        (Some(&b"key three"[..]), None, -3),
    ];
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let base = build_compressed_batch(codec, 77, &records, 3, 0, 0);
        for _ in 0..3_000 {
            let mut buf = base.clone();
            for _ in 0..=rng.below(4) {
                let at = rng.below(buf.len());
                buf[at] = rng.next() as u8;
            }
            if rng.below(4) == 0 {
                let cut = rng.below(buf.len());
                buf.truncate(cut);
            }
            if buf.len() >= BATCH_HEADER_LEN {
                let crc = compute_crc(&buf);
                buf[17..21].copy_from_slice(&crc.to_be_bytes());
            }
            exercise(&buf);
        }
    }
}
