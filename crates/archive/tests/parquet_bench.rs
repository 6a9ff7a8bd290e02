//! Conversion benchmark (ignored by default; docs/benchmarks.md "Parquet archive"):
//!
//!     cargo test --release -p strata-archive --test parquet_bench -- --ignored --nocapture
//!
//! For 100 B and 1 KiB records, in uncompressed and zstd-compressed batches of 500 KiB-ish
//! (what librdkafka sends at `batch.size` defaults under load), builds a 64 MiB segment of
//! JSON-like values (a fixed shape with varying numbers and ids, compressible as real events
//! are) and converts it on one thread: MB/s of segment bytes per core, and Parquet bytes as a
//! share of segment bytes.

use std::time::Instant;

use strata_records::{build_batch, patch_base_offset, BatchSpec, Compression, NewRecord};

const SEGMENT_BYTES: usize = 64 << 20;

fn value(n: u64, len: usize) -> Vec<u8> {
    let mut v = format!(
        "{{\"id\":{n},\"user\":\"u{:06}\",\"kind\":\"{}\",\"amount\":{}.{:02},\"pad\":\"",
        n.wrapping_mul(2654435761) % 1_000_000,
        ["click", "view", "buy", "scroll"][(n % 4) as usize],
        n % 997,
        n % 100
    )
    .into_bytes();
    let mut x = n.wrapping_mul(0x9e3779b97f4a7c15);
    while v.len() + 2 < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(b'a' + (x % 16) as u8);
    }
    v.extend_from_slice(b"\"}");
    v.truncate(len);
    v
}

fn segment(record_len: usize, codec: Compression) -> Vec<u8> {
    let per_batch = (512 << 10) / record_len;
    let mut seg = Vec::with_capacity(SEGMENT_BYTES + (1 << 20));
    let (mut offset, mut n) = (0i64, 0u64);
    while seg.len() < SEGMENT_BYTES {
        let keys: Vec<Vec<u8>> = (0..per_batch as u64)
            .map(|i| format!("key-{}", (n + i) % 10_000).into_bytes())
            .collect();
        let values: Vec<Vec<u8>> = (0..per_batch as u64)
            .map(|i| value(n + i, record_len))
            .collect();
        let headers: &[(&[u8], Option<&[u8]>)] = &[(b"source", Some(b"bench"))];
        let records: Vec<NewRecord<'_>> = (0..per_batch)
            .map(|i| NewRecord {
                key: Some(&keys[i]),
                value: Some(&values[i]),
                headers,
                timestamp_delta: i as i64,
            })
            .collect();
        let spec = BatchSpec {
            compression: codec,
            ..BatchSpec::plain(1_700_000_000_000 + n as i64)
        };
        let mut batch = build_batch(&spec, &records).unwrap();
        patch_base_offset(&mut batch, offset);
        seg.extend_from_slice(&batch);
        offset += per_batch as i64;
        n += per_batch as u64;
    }
    seg
}

#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn conversion_throughput_and_size() {
    println!("| record | batches | segment MiB | rows | Parquet MiB | Parquet / segment | MB/s per core |");
    println!("|---|---|---|---|---|---|---|");
    for record_len in [100, 1024] {
        for codec in [Compression::None, Compression::Zstd] {
            let seg = segment(record_len, codec);
            // Best of three runs.
            let mut best = f64::MAX;
            let mut out = (0, 0);
            for _ in 0..3 {
                let start = Instant::now();
                let (file, stats) = strata_archive::segment_to_parquet(&seg, 0, &[]).unwrap();
                best = best.min(start.elapsed().as_secs_f64());
                out = (file.len(), stats.rows);
            }
            println!(
                "| {record_len} B | {codec:?} | {:.1} | {} | {:.1} | {:.1} % | {:.0} |",
                seg.len() as f64 / (1 << 20) as f64,
                out.1,
                out.0 as f64 / (1 << 20) as f64,
                100.0 * out.0 as f64 / seg.len() as f64,
                seg.len() as f64 / 1e6 / best
            );
        }
    }
}
