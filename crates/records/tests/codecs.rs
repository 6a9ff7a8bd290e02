//! Record timestamps through every codec, including raw (unframed) snappy and the
//! decompression bound.

use std::io::Write;

use strata_records::testing::{build_batch, build_compressed_batch};
use strata_records::*;

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn records() -> Vec<testing::TestRecord<'static>> {
    vec![
        (Some(&b"key-0"[..]), Some(&b"value number zero"[..]), 0),
        (None, Some(&b"value one"[..]), 7),
        (Some(&b"key-2"[..]), None, 3),
        (None, None, 12),
    ]
}

/// Replaces the records section of an uncompressed batch and sets the codec bits.
fn with_section(plain: &[u8], codec_bits: i16, section: &[u8]) -> Vec<u8> {
    let mut out = plain[..BATCH_HEADER_LEN].to_vec();
    out.extend_from_slice(section);
    let batch_length = (out.len() - 12) as i32;
    out[8..12].copy_from_slice(&batch_length.to_be_bytes());
    let attrs = i16::from_be_bytes([out[21], out[22]]) | codec_bits;
    out[21..23].copy_from_slice(&attrs.to_be_bytes());
    let crc = compute_crc(&out);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

#[test]
fn every_codec_yields_offsets_and_timestamps() {
    for codec in CODECS {
        let mut batch = build_compressed_batch(codec, 5000, &records(), 9, 1, 0);
        let h = validate_client_batch(&batch).unwrap();
        assert_eq!(h.compression().unwrap(), codec);
        assert_eq!(h.max_timestamp, 5012);
        assert_eq!(
            record_timestamps(&batch).unwrap(),
            vec![(0, 5000), (1, 5007), (2, 5003), (3, 5012)],
            "{codec:?}"
        );
        patch_base_offset(&mut batch, 40);
        set_log_append_time(&mut batch, 9999);
        assert_eq!(
            record_timestamps(&batch).unwrap(),
            vec![(40, 9999), (41, 9999), (42, 9999), (43, 9999)],
            "{codec:?}"
        );
    }
}

#[test]
fn raw_snappy_without_xerial_framing() {
    let plain = build_batch(100, &records(), -1, -1, -1);
    let section = snap::raw::Encoder::new()
        .compress_vec(&plain[BATCH_HEADER_LEN..])
        .unwrap();
    let batch = with_section(&plain, 2, &section);
    validate_client_batch(&batch).unwrap();
    assert_eq!(
        record_timestamps(&batch).unwrap(),
        vec![(0, 100), (1, 107), (2, 103), (3, 112)]
    );
}

#[test]
fn decompression_is_bounded() {
    let plain = build_batch(0, &records(), -1, -1, -1);
    let zeros = vec![0u8; MAX_DECOMPRESSED_BYTES + 1024];
    let zstd_bomb = zstd::encode_all(&zeros[..], 1).unwrap();
    let batch = with_section(&plain, 4, &zstd_bomb);
    assert!(matches!(
        record_timestamps(&batch),
        Err(RecordsError::Decompress(_))
    ));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&zeros).unwrap();
    let batch = with_section(&plain, 1, &gz.finish().unwrap());
    assert!(matches!(
        record_timestamps(&batch),
        Err(RecordsError::Decompress(_))
    ));
}

#[test]
fn garbage_compressed_section_is_an_error() {
    let plain = build_batch(0, &records(), -1, -1, -1);
    for bits in 1..=4 {
        let batch = with_section(&plain, bits, b"definitely not compressed data");
        assert!(record_timestamps(&batch).is_err(), "codec {bits}");
    }
}

#[test]
fn truncated_records_section_is_an_error() {
    let plain = build_batch(0, &records(), -1, -1, -1);
    let batch = with_section(&plain, 0, &plain[BATCH_HEADER_LEN..plain.len() - 3]);
    assert!(record_timestamps(&batch).is_err());
}
