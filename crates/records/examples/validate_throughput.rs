//! Single-core cost of produce-path validation, without a broker: header + CRC
//! (`validate_client_batch`) and the record walk (`validate_records`), per batch shape.
//!
//! Run: `cargo run --release -p strata-records --example validate_throughput`.
//! Prints, per shape, MB/s of payload and ns per record for each step.

use std::time::Instant;

use strata_records::testing::{build_compressed_batch, TestRecord};
use strata_records::{validate_client_batch, validate_records, Compression, RecordRules};

fn payload(size: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn main() {
    let now = 1_700_000_000_000;
    let shapes: [(&str, Compression, usize, usize); 5] = [
        ("none 1KiB x1000", Compression::None, 1024, 1000),
        ("none 100B x10000", Compression::None, 100, 10_000),
        ("lz4 1KiB x1000", Compression::Lz4, 1024, 1000),
        ("zstd 1KiB x1000", Compression::Zstd, 1024, 1000),
        ("gzip 1KiB x1000", Compression::Gzip, 1024, 1000),
    ];
    println!(
        "{:<18} {:>10} {:>12} {:>10} {:>12} {:>10}",
        "shape", "wire bytes", "crc MB/s", "crc ns/rec", "walk MB/s", "walk ns/rec"
    );
    for (name, codec, size, n) in shapes {
        // Every record has the same value, as the load generator sends.
        let value = payload(size, 42);
        let records: Vec<TestRecord<'_>> = (0..n).map(|_| (None, Some(&value[..]), 0)).collect();
        let batch = build_compressed_batch(codec, now, &records, -1, -1, -1);
        let header = validate_client_batch(&batch).expect("valid");
        let rules = RecordRules::default();
        validate_records(&batch, &header, &rules, now).expect("valid");
        let payload_bytes = (size * n) as f64;
        let iters = (256_000_000 / (size * n)).max(8);
        let t = Instant::now();
        for _ in 0..iters {
            std::hint::black_box(validate_client_batch(std::hint::black_box(&batch)).unwrap());
        }
        let crc = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for _ in 0..iters {
            std::hint::black_box(
                validate_records(std::hint::black_box(&batch), &header, &rules, now).unwrap(),
            );
        }
        let walk = t.elapsed().as_secs_f64();
        let total = payload_bytes * iters as f64;
        let recs = (n * iters) as f64;
        println!(
            "{:<18} {:>10} {:>12.0} {:>10.1} {:>12.0} {:>10.1}",
            name,
            batch.len(),
            total / crc / 1e6,
            crc / recs * 1e9,
            total / walk / 1e6,
            walk / recs * 1e9
        );
    }
}
