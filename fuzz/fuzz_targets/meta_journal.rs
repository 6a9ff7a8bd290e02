//! The metadata journal decoder (`strata_meta::journal_scan::scan`, `journal::decode`) on
//! hostile images.
//!
//! The first byte picks how the rest becomes an image: raw bytes (magic and version checks), a
//! valid header followed by raw bytes, or a valid header followed by entries framed with a
//! correct length and CRC (pieces separated by `0x00`; a piece starting with `0x01` is written
//! unframed, as damage), so the fuzzer reaches the JSON record decoder and the torn-tail versus
//! damage decision. Invariants: never panics; `records` and `offsets` agree, offsets strictly
//! increase inside the intact prefix, `intact_len <= len`, and the end kind matches the prefix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_meta::journal::{self, FORMAT_VERSION, HEADER_LEN, MAGIC};
use strata_meta::journal_scan::{scan, ScanEnd};

fn header() -> Vec<u8> {
    let mut h = MAGIC.to_vec();
    h.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    h
}

fn image(mode: u8, rest: &[u8]) -> Vec<u8> {
    match mode % 3 {
        0 => rest.to_vec(),
        1 => {
            let mut img = header();
            img.extend_from_slice(rest);
            img
        }
        _ => {
            let mut img = header();
            for piece in rest.split(|&b| b == 0) {
                if let Some(raw) = piece.strip_prefix(&[1u8]) {
                    img.extend_from_slice(raw);
                } else {
                    img.extend_from_slice(&(piece.len() as u32).to_be_bytes());
                    img.extend_from_slice(&crc32c::crc32c(piece).to_be_bytes());
                    img.extend_from_slice(piece);
                }
            }
            img
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let img = image(mode, rest);
    let scanned = scan(&img);
    let decoded = journal::decode(&img);
    match (&scanned, &decoded) {
        (Ok(s), Ok((records, intact))) => {
            assert_eq!(&s.records, records);
            assert_eq!(s.intact_len, *intact);
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("scan and decode disagree"),
    }
    let Ok(s) = scanned else {
        return;
    };
    assert_eq!(s.records.len(), s.offsets.len());
    assert!(s.intact_len >= HEADER_LEN && s.intact_len <= img.len());
    for w in s.offsets.windows(2) {
        assert!(
            w[0] + 8 < w[1],
            "offsets must strictly increase by whole entries"
        );
    }
    if let Some(&first) = s.offsets.first() {
        assert_eq!(first, HEADER_LEN);
    }
    if let Some(&last) = s.offsets.last() {
        assert!(last + 8 < s.intact_len);
    }
    match s.end {
        ScanEnd::Clean => assert_eq!(s.intact_len, img.len()),
        ScanEnd::TornTail { at, .. } => {
            assert_eq!(at, s.intact_len);
            assert!(at < img.len());
        }
        ScanEnd::Damaged {
            at, next_intact, ..
        } => {
            assert_eq!(at, s.intact_len);
            assert!(at < next_intact && next_intact + 8 < img.len());
        }
    }
});
