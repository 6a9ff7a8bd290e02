//! Frame limits. A Kafka frame is a big-endian i32 size followed by that many bytes.
//!
//! Invariant: the broker calls [`check_frame_size`] on the 4-byte prefix *before* it allocates
//! or reads the body, so a hostile size can never reserve memory.

use crate::error::{WireError, WireErrorKind};

/// Length of the size prefix in bytes.
pub const FRAME_PREFIX_LEN: usize = 4;

/// Smallest body that can hold a request header (api key, version, correlation id, client id length).
const MIN_REQUEST_LEN: i32 = 10;

/// Checks a frame's size prefix against `max` (`socket.request.max.bytes`) and returns the body length.
pub fn check_frame_size(prefix: [u8; FRAME_PREFIX_LEN], max: usize) -> Result<usize, WireError> {
    let size = i32::from_be_bytes(prefix);
    if size < MIN_REQUEST_LEN {
        return Err(WireError::new(
            WireErrorKind::FrameTooLarge,
            format!("frame size {size} is below the smallest request header"),
        ));
    }
    if size as usize > max {
        return Err(WireError::new(
            WireErrorKind::FrameTooLarge,
            format!("frame size {size} exceeds socket.request.max.bytes {max}"),
        ));
    }
    Ok(size as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_sizes_up_to_the_limit() {
        assert_eq!(check_frame_size(100i32.to_be_bytes(), 100).unwrap(), 100);
        assert_eq!(check_frame_size(10i32.to_be_bytes(), 100).unwrap(), 10);
    }

    #[test]
    fn refuses_oversized_negative_and_tiny_frames() {
        for size in [101, -1, i32::MIN, 0, 9, i32::MAX] {
            let err = check_frame_size(size.to_be_bytes(), 100).unwrap_err();
            assert_eq!(err.kind, WireErrorKind::FrameTooLarge, "size {size}");
        }
    }
}
