//! Hostile element counts in requests reserve no more memory than the request's own bytes.
//!
//! kafka-protocol reserves a collection's capacity from the count on the wire. The vendored
//! patch (crates/vendor/STRATA-PATCH.md) bounds that reservation in *bytes*: capacity times the
//! element's size in memory stays within the bytes left in the frame. This test decodes frames
//! whose arrays claim as many elements as there are bytes left (the worst case the earlier
//! element-count cap allowed) and records the largest single allocation made while decoding.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;

/// Records the largest allocation made by the current thread while `WATCH` is set.
struct LargestAllocation;

thread_local! {
    static WATCH: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn note(size: usize) {
    // `try_with`: thread-locals may already be gone while a thread exits.
    let _ = WATCH.try_with(|w| {
        if w.get() {
            let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
        }
    });
}

#[global_allocator]
static ALLOC: LargestAllocation = LargestAllocation;

/// The largest allocation `f` makes on this thread.
fn largest_allocation(f: impl FnOnce()) -> usize {
    LARGEST.with(|l| l.set(0));
    WATCH.with(|w| w.set(true));
    f();
    WATCH.with(|w| w.set(false));
    LARGEST.with(|l| l.get())
}

/// A request (header v1, null client id) whose body is `count` as an i32 array length followed
/// by `filler` bytes: a string length of 32767, then 0xff bytes (invalid UTF-8), so the first
/// element fails to decode and only the up-front reservation is measured.
fn claiming_frame(api_key: i16, version: i16, count: i32, filler: usize) -> Bytes {
    let mut raw = Vec::with_capacity(14 + filler);
    raw.extend_from_slice(&api_key.to_be_bytes());
    raw.extend_from_slice(&version.to_be_bytes());
    raw.extend_from_slice(&1i32.to_be_bytes());
    raw.extend_from_slice(&(-1i16).to_be_bytes());
    raw.extend_from_slice(&count.to_be_bytes());
    raw.extend_from_slice(&i16::MAX.to_be_bytes());
    raw.resize(raw.len() + filler - 2, 0xff);
    Bytes::from(raw)
}

#[test]
fn array_reservations_are_bounded_by_the_bytes_left() {
    const FILLER: usize = 1 << 20;
    // Metadata v4 (topics), ListOffsets v1 (topics), DescribeGroups v0 (group ids): arrays of
    // structs and strings, each claiming one element per byte left, and i32::MAX.
    for (api_key, version) in [(3i16, 4i16), (2, 1), (15, 0)] {
        for count in [FILLER as i32, i32::MAX] {
            let frame = claiming_frame(api_key, version, count, FILLER);
            let largest = largest_allocation(|| {
                assert!(strata_wire::parse_request(frame.clone()).is_err());
            });
            assert!(
                largest <= FILLER,
                "api {api_key} v{version}, count {count}: an allocation of {largest} bytes \
                 for a frame of {} bytes",
                frame.len()
            );
        }
    }
}
