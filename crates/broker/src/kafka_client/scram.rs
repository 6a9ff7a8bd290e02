//! SCRAM (RFC 5802, RFC 7677) on the client side, for SCRAM-SHA-256 and SCRAM-SHA-512: the
//! three messages a Kafka client sends and checks, with the same HMAC, hash and PBKDF2 as the
//! broker's side (`crate::sasl::scram`). No I/O: `sasl.rs` carries the messages.
//!
//! 1. [`ClientFirst::new`]: `n,,n=<user>,r=<client nonce>` (GS2 header `n,,`: no channel
//!    binding, no authorization id, as Kafka clients send).
//! 2. [`ClientFirst::answer`]: reads `r=<nonce>,s=<salt>,i=<iterations>` from the server and
//!    returns `c=biws,r=<nonce>,p=<proof>`.
//! 3. [`ClientFinal::verify`]: checks the server's `v=<signature>`.
//!
//! Invariants:
//! - the server's nonce must start with ours, and it must use at least [`MIN_ITERATIONS`]
//!   (Kafka's minimum), else the exchange stops before a proof is computed;
//! - the server must prove it knows the credential (`v=` matches, compared in constant time);
//!   an `e=` answer or a wrong signature is an error, so a server that is not the one holding
//!   the user's credential is never believed;
//! - errors never contain the password, the salted password or a proof.

use aws_lc_rs::{constant_time, rand};
use base64::Engine;

use crate::sasl::scram::Mechanism;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The fewest PBKDF2 iterations accepted from a server (Kafka's minimum for both mechanisms).
pub(crate) const MIN_ITERATIONS: u32 = 4096;
/// The most PBKDF2 iterations accepted from a server: more is a server making us spin.
pub(crate) const MAX_ITERATIONS: u32 = 1 << 20;
/// The GS2 header, base64: `n,,`.
const GS2_HEADER_B64: &str = "biws";

/// Encodes a user name as a SCRAM `saslname` (`,` is `=2C`, `=` is `=3D`).
fn saslname(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

/// A client that sent its first message.
pub(crate) struct ClientFirst {
    mechanism: Mechanism,
    password: String,
    nonce: String,
    bare: String,
}

impl std::fmt::Debug for ClientFirst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientFirst")
            .field("mechanism", &self.mechanism)
            .field("bare", &self.bare)
            .finish_non_exhaustive()
    }
}

impl ClientFirst {
    /// Starts an exchange for `user` with a random nonce.
    pub(crate) fn new(
        mechanism: Mechanism,
        user: &str,
        password: &str,
    ) -> Result<ClientFirst, String> {
        let mut raw = [0u8; 24];
        rand::fill(&mut raw).map_err(|_| "no randomness for a SCRAM nonce".to_string())?;
        Ok(ClientFirst::with_nonce(
            mechanism,
            user,
            password,
            &B64.encode(raw),
        ))
    }

    fn with_nonce(mechanism: Mechanism, user: &str, password: &str, nonce: &str) -> ClientFirst {
        ClientFirst {
            mechanism,
            password: password.to_string(),
            nonce: nonce.to_string(),
            bare: format!("n={},r={nonce}", saslname(user)),
        }
    }

    /// The client-first message.
    pub(crate) fn message(&self) -> String {
        format!("n,,{}", self.bare)
    }

    /// Reads the server-first message and computes the client-final one.
    pub(crate) fn answer(self, server_first: &[u8]) -> Result<ClientFinal, String> {
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| "the SCRAM server-first message is not UTF-8")?;
        if let Some(e) = server_first.strip_prefix("e=") {
            return Err(format!("the server refused the SCRAM exchange: {e}"));
        }
        let (mut nonce, mut salt, mut iterations) = (None, None, None);
        for part in server_first.split(',') {
            match part.split_once('=') {
                Some(("r", v)) => nonce = Some(v),
                Some(("s", v)) => salt = Some(v),
                Some(("i", v)) => iterations = Some(v),
                Some(("m", _)) => return Err("the server requires a SCRAM extension".into()),
                _ => {}
            }
        }
        let nonce = nonce.ok_or("the SCRAM server-first message lacks r=")?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("the SCRAM server nonce does not extend the client's".into());
        }
        let salt = B64
            .decode(salt.ok_or("the SCRAM server-first message lacks s=")?)
            .map_err(|_| "the SCRAM salt is not base64")?;
        let iterations: u32 = iterations
            .ok_or("the SCRAM server-first message lacks i=")?
            .parse()
            .map_err(|_| "the SCRAM iteration count is not a number")?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(format!(
                "the server asks for {iterations} SCRAM iterations (accepted: {MIN_ITERATIONS} to {MAX_ITERATIONS})"
            ));
        }
        let m = self.mechanism;
        let salted = m.salted_password(self.password.as_bytes(), &salt, iterations);
        let without_proof = format!("c={GS2_HEADER_B64},r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.bare);
        let client_key = m.hmac(&salted, b"Client Key");
        let stored_key = m.hash(&client_key);
        let signature = m.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = m.hmac(&salted, b"Server Key");
        Ok(ClientFinal {
            message: format!("{without_proof},p={}", B64.encode(proof)),
            server_signature: m.hmac(&server_key, auth_message.as_bytes()),
        })
    }
}

/// A client that sent its final message and waits for the server's proof.
pub(crate) struct ClientFinal {
    message: String,
    server_signature: Vec<u8>,
}

impl std::fmt::Debug for ClientFinal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientFinal { .. }")
    }
}

impl ClientFinal {
    /// The client-final message.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    /// Checks the server-final message: `Ok` only if it carries the expected signature.
    pub(crate) fn verify(&self, server_final: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(server_final)
            .map_err(|_| "the SCRAM server-final message is not UTF-8")?;
        let first = text.split(',').next().unwrap_or_default();
        if let Some(e) = first.strip_prefix("e=") {
            return Err(format!("the server refused the SCRAM proof: {e}"));
        }
        let v = first
            .strip_prefix("v=")
            .ok_or("the SCRAM server-final message lacks v=")?;
        let signature = B64
            .decode(v)
            .map_err(|_| "the SCRAM server signature is not base64")?;
        constant_time::verify_slices_are_equal(&signature, &self.server_signature)
            .map_err(|_| "the server's SCRAM signature is wrong: it does not know the credential (is this the right broker?)".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sasl::scram::{credential_from_password, parse_client_first, ServerFirst};

    /// RFC 7677's SCRAM-SHA-256 example (user "user", password "pencil").
    #[test]
    fn rfc7677_exchange() {
        let client =
            ClientFirst::with_nonce(Mechanism::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(client.message(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let last = client
            .answer(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap();
        assert_eq!(
            last.message(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        last.verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        let e = last
            .verify(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap_err();
        assert!(e.contains("signature is wrong"), "{e}");
        assert!(last.verify(b"e=invalid-proof").is_err());
        assert!(last.verify(b"").is_err());
    }

    /// Against the broker's own server side, both mechanisms, a user name needing escapes.
    #[test]
    fn against_the_server() {
        for m in [Mechanism::Sha256, Mechanism::Sha512] {
            let cred = credential_from_password("a,b=c", m, "pw", 4096).unwrap();
            let client = ClientFirst::new(m, "a,b=c", "pw").unwrap();
            let first = parse_client_first(client.message().as_bytes()).unwrap();
            assert_eq!(first.user, "a,b=c");
            let server = ServerFirst::new(m, cred.clone(), first).unwrap();
            let last = client.answer(server.message.as_bytes()).unwrap();
            let server_final = server.finish(last.message().as_bytes()).unwrap();
            last.verify(server_final.as_bytes()).unwrap();

            // A wrong password: the server refuses the proof.
            let client = ClientFirst::new(m, "a,b=c", "nope").unwrap();
            let first = parse_client_first(client.message().as_bytes()).unwrap();
            let server = ServerFirst::new(m, cred, first).unwrap();
            let last = client.answer(server.message.as_bytes()).unwrap();
            assert!(server.finish(last.message().as_bytes()).is_err());
        }
    }

    #[test]
    fn bad_server_first_messages() {
        let fresh = || ClientFirst::with_nonce(Mechanism::Sha512, "u", "secret-pw", "abc");
        for bad in [
            &b"r=xyz123,s=AAAA,i=4096"[..],
            b"r=abc,s=AAAA,i=4096",
            b"r=abcd,s=AAAA,i=1000",
            b"r=abcd,s=AAAA,i=99999999",
            b"r=abcd,s=!!,i=4096",
            b"r=abcd,s=AAAA",
            b"r=abcd,i=4096",
            b"s=AAAA,i=4096",
            b"m=ext,r=abcd,s=AAAA,i=4096",
            b"e=unknown-user",
            &[0xff],
        ] {
            let e = fresh().answer(bad).unwrap_err();
            assert!(!e.contains("secret-pw"), "{e}");
        }
        assert!(!format!("{:?}", fresh()).contains("secret-pw"));
    }
}
