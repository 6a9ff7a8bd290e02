//! SASL messages on hostile bytes: PLAIN (`plain::parse`), the SCRAM client-first message
//! (`scram::parse_client_first`), and a whole SCRAM exchange (client-first, then the
//! client-final message checked against a fixed credential).
//!
//! Input: the first byte picks the target; for the exchange, the rest is split at the first
//! NUL into the two client messages.
//! Invariants: never panics; a message over `MAX_MESSAGE` bytes is refused; a fuzzed
//! client-final message never authenticates (its proof would have to be the real one).
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_broker::sasl::{plain, scram};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            let parsed = plain::parse(rest);
            assert!(parsed.is_err() || rest.len() <= scram::MAX_MESSAGE);
        }
        1 => {
            let parsed = scram::parse_client_first(rest);
            assert!(parsed.is_err() || rest.len() <= scram::MAX_MESSAGE);
        }
        _ => {
            let (first, last) = match rest.iter().position(|b| *b == 0) {
                Some(at) => (&rest[..at], &rest[at + 1..]),
                None => (rest, &[][..]),
            };
            let Ok(first) = scram::parse_client_first(first) else {
                return;
            };
            let mechanism = if which & 4 == 0 {
                scram::Mechanism::Sha256
            } else {
                scram::Mechanism::Sha512
            };
            let salted = mechanism.salted_password(b"secret", b"fuzz-salt", 4096);
            let credential =
                scram::credential_from_salted(&first.user, mechanism, b"fuzz-salt", 4096, &salted);
            let Ok(server) = scram::ServerFirst::new(mechanism, credential, first) else {
                return;
            };
            assert!(server.finish(last).is_err());
        }
    }
});
