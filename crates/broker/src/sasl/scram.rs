//! SCRAM (RFC 5802, RFC 7677) on the server side, for SCRAM-SHA-256 and SCRAM-SHA-512:
//! deriving a stored credential from a password or a salted password, checking a password
//! against a stored credential (PLAIN logins), and the three-message exchange.
//!
//! Invariants: only salted keys are ever kept (`StoredKey`, `ServerKey`, salt, iterations);
//! a proof is checked in constant time; every malformed client message is an `Err` (the caller
//! answers SASL_AUTHENTICATION_FAILED), never a panic; messages longer than [`MAX_MESSAGE`]
//! are refused before they are parsed.

use std::num::NonZeroU32;

use aws_lc_rs::{constant_time, digest, hmac, pbkdf2, rand};
use base64::Engine;
use strata_meta::ScramCredential;

/// The longest client message read.
pub const MAX_MESSAGE: usize = 4096;
/// Iterations of credentials made here from a password (Kafka's default is 4096).
pub const DEFAULT_ITERATIONS: u32 = 4096;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// SCRAM-SHA-256.
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

impl Mechanism {
    /// Parses Kafka's name.
    pub fn parse(name: &str) -> Option<Mechanism> {
        match name {
            "SCRAM-SHA-256" => Some(Mechanism::Sha256),
            "SCRAM-SHA-512" => Some(Mechanism::Sha512),
            _ => None,
        }
    }

    /// Kafka's name.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Sha256 => "SCRAM-SHA-256",
            Mechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// The mechanism's number in Describe/AlterUserScramCredentials.
    pub fn code(self) -> i8 {
        match self {
            Mechanism::Sha256 => 1,
            Mechanism::Sha512 => 2,
        }
    }

    /// The mechanism with that number.
    pub fn from_code(code: i8) -> Option<Mechanism> {
        match code {
            1 => Some(Mechanism::Sha256),
            2 => Some(Mechanism::Sha512),
            _ => None,
        }
    }

    fn hmac_alg(self) -> hmac::Algorithm {
        match self {
            Mechanism::Sha256 => hmac::HMAC_SHA256,
            Mechanism::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn digest_alg(self) -> &'static digest::Algorithm {
        match self {
            Mechanism::Sha256 => &digest::SHA256,
            Mechanism::Sha512 => &digest::SHA512,
        }
    }

    fn pbkdf2_alg(self) -> pbkdf2::Algorithm {
        match self {
            Mechanism::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            Mechanism::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn len(self) -> usize {
        match self {
            Mechanism::Sha256 => 32,
            Mechanism::Sha512 => 64,
        }
    }

    /// `HMAC(key, data)` with this mechanism's hash (shared with the SCRAM client).
    pub(crate) fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(self.hmac_alg(), key), data)
            .as_ref()
            .to_vec()
    }

    /// `H(data)` with this mechanism's hash (shared with the SCRAM client).
    pub(crate) fn hash(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.digest_alg(), data).as_ref().to_vec()
    }

    /// `Hi(password, salt, iterations)`: PBKDF2 with this mechanism's HMAC.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0u8; self.len()];
        let n = NonZeroU32::new(iterations.max(1)).unwrap_or(NonZeroU32::MIN);
        pbkdf2::derive(self.pbkdf2_alg(), n, salt, password, &mut out);
        out
    }
}

/// The stored credential for a salted password.
pub fn credential_from_salted(
    user: &str,
    mechanism: Mechanism,
    salt: &[u8],
    iterations: u32,
    salted: &[u8],
) -> ScramCredential {
    let client_key = mechanism.hmac(salted, b"Client Key");
    ScramCredential {
        user: user.to_string(),
        mechanism: mechanism.name().to_string(),
        salt: B64.encode(salt),
        iterations,
        stored_key: B64.encode(mechanism.hash(&client_key)),
        server_key: B64.encode(mechanism.hmac(salted, b"Server Key")),
    }
}

/// A new credential for `password`, with a random 32-byte salt.
pub fn credential_from_password(
    user: &str,
    mechanism: Mechanism,
    password: &str,
    iterations: u32,
) -> Result<ScramCredential, String> {
    let mut salt = [0u8; 32];
    rand::fill(&mut salt).map_err(|_| "no randomness for a salt".to_string())?;
    let salted = mechanism.salted_password(password.as_bytes(), &salt, iterations);
    Ok(credential_from_salted(
        user, mechanism, &salt, iterations, &salted,
    ))
}

/// Whether `password` is the one `credential` was made from (PLAIN logins, idempotent
/// `--add-scram`).
pub fn password_matches(credential: &ScramCredential, password: &str) -> bool {
    let Some(mechanism) = Mechanism::parse(&credential.mechanism) else {
        return false;
    };
    let (Ok(salt), Ok(stored)) = (
        B64.decode(&credential.salt),
        B64.decode(&credential.stored_key),
    ) else {
        return false;
    };
    let salted = mechanism.salted_password(password.as_bytes(), &salt, credential.iterations);
    let computed = mechanism.hash(&mechanism.hmac(&salted, b"Client Key"));
    constant_time::verify_slices_are_equal(&computed, &stored).is_ok()
}

/// Decodes a SCRAM `saslname` (`=2C` is ',', `=3D` is '=').
fn saslname(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let code = rest.get(at..at + 3).ok_or("bad escape in user name")?;
        out.push(match code {
            "=2C" => ',',
            "=3D" => '=',
            _ => return Err("bad escape in user name".into()),
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The `key=value` attributes of a SCRAM message, in order.
fn attributes(msg: &str) -> Result<Vec<(char, &str)>, String> {
    msg.split(',')
        .map(|part| {
            let mut chars = part.chars();
            match (chars.next(), chars.next()) {
                (Some(k), Some('=')) if k.is_ascii_alphabetic() => Ok((k, &part[2..])),
                _ => Err(format!("malformed SCRAM attribute {part:?}")),
            }
        })
        .collect()
}

/// What the client's first message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The GS2 header (`n,,` or `n,a=…,`), echoed in the final message's channel binding.
    pub gs2_header: String,
    /// The message without its GS2 header.
    pub bare: String,
    /// The user name.
    pub user: String,
    /// The client's nonce.
    pub nonce: String,
}

/// Parses the client-first message.
pub fn parse_client_first(msg: &[u8]) -> Result<ClientFirst, String> {
    if msg.len() > MAX_MESSAGE {
        return Err("SCRAM message too long".into());
    }
    let msg = std::str::from_utf8(msg).map_err(|_| "SCRAM message is not UTF-8")?;
    // gs2-header: cbind flag ("n" or "y"; "p=…" channel binding is not supported), authzid.
    let mut parts = msg.splitn(3, ',');
    let (Some(flag), Some(authzid), Some(bare)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("malformed SCRAM client-first message".into());
    };
    if flag != "n" && flag != "y" {
        return Err("SCRAM channel binding is not supported".into());
    }
    if !authzid.is_empty() && !authzid.starts_with("a=") {
        return Err("malformed SCRAM authzid".into());
    }
    let attrs = attributes(bare)?;
    let user = match attrs.first() {
        Some(('n', u)) if !u.is_empty() => saslname(u)?,
        _ => return Err("SCRAM client-first message lacks n=".into()),
    };
    let nonce = match attrs.get(1) {
        Some(('r', r)) if !r.is_empty() => r.to_string(),
        _ => return Err("SCRAM client-first message lacks r=".into()),
    };
    if let Some(a) = authzid.strip_prefix("a=") {
        if saslname(a)? != user {
            return Err("SCRAM authorization id differs from the user".into());
        }
    }
    Ok(ClientFirst {
        gs2_header: format!("{flag},{authzid},"),
        bare: bare.to_string(),
        user,
        nonce,
    })
}

/// A server mid-exchange: it sent its first message and waits for the client's final one.
#[derive(Debug, Clone)]
pub struct ServerFirst {
    mechanism: Mechanism,
    credential: ScramCredential,
    client_first: ClientFirst,
    /// The server-first message sent.
    pub message: String,
    nonce: String,
}

impl ServerFirst {
    /// Answers a client-first message for the user's `credential`.
    pub fn new(
        mechanism: Mechanism,
        credential: ScramCredential,
        client_first: ClientFirst,
    ) -> Result<ServerFirst, String> {
        let mut ours = [0u8; 18];
        rand::fill(&mut ours).map_err(|_| "no randomness for a nonce".to_string())?;
        let nonce = format!("{}{}", client_first.nonce, B64.encode(ours));
        let message = format!(
            "r={nonce},s={},i={}",
            credential.salt, credential.iterations
        );
        Ok(ServerFirst {
            mechanism,
            credential,
            client_first,
            message,
            nonce,
        })
    }

    /// The user being authenticated.
    pub fn user(&self) -> &str {
        &self.credential.user
    }

    /// Checks the client-final message; on success returns the server-final message.
    pub fn finish(&self, msg: &[u8]) -> Result<String, String> {
        if msg.len() > MAX_MESSAGE {
            return Err("SCRAM message too long".into());
        }
        let msg = std::str::from_utf8(msg).map_err(|_| "SCRAM message is not UTF-8")?;
        let (without_proof, proof) = msg
            .rsplit_once(",p=")
            .ok_or("SCRAM client-final message lacks p=")?;
        let attrs = attributes(without_proof)?;
        let binding = match attrs.first() {
            Some(('c', c)) => B64.decode(c).map_err(|_| "bad channel binding")?,
            _ => return Err("SCRAM client-final message lacks c=".into()),
        };
        if binding != self.client_first.gs2_header.as_bytes() {
            return Err("SCRAM channel binding does not match".into());
        }
        // Kafka's check is "ends with": librdkafka sends its own nonce again in front of the
        // server's (which already starts with it). The proof covers the message as sent.
        match attrs.get(1) {
            Some(('r', r)) if r.ends_with(self.nonce.as_str()) => {}
            _ => return Err("SCRAM nonce does not match".into()),
        }
        let proof = B64.decode(proof).map_err(|_| "bad SCRAM proof")?;
        let m = self.mechanism;
        let stored = B64
            .decode(&self.credential.stored_key)
            .map_err(|_| "bad stored key")?;
        let server_key = B64
            .decode(&self.credential.server_key)
            .map_err(|_| "bad server key")?;
        if proof.len() != m.len() {
            return Err("SCRAM proof has the wrong length".into());
        }
        let auth_message = format!(
            "{},{},{}",
            self.client_first.bare, self.message, without_proof
        );
        let signature = m.hmac(&stored, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        if constant_time::verify_slices_are_equal(&m.hash(&client_key), &stored).is_err() {
            return Err("invalid credentials".into());
        }
        let server_signature = m.hmac(&server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's SCRAM-SHA-256 example (user "user", password "pencil").
    #[test]
    fn rfc7677_exchange() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let m = Mechanism::Sha256;
        let salted = m.salted_password(b"pencil", &salt, 4096);
        let cred = credential_from_salted("user", m, &salt, 4096, &salted);
        assert!(password_matches(&cred, "pencil"));
        assert!(!password_matches(&cred, "pencil2"));
        let first = parse_client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        let mut server = ServerFirst::new(m, cred, first).unwrap();
        // Replay the RFC's server nonce.
        server.nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".to_string();
        server.message = format!("r={},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", server.nonce);
        let last = server
            .finish(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        assert_eq!(last, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
        // librdkafka's form (its nonce again in front) is accepted, as Kafka accepts it; the
        // proof is computed over the message as sent, so it is checked all the same.
        assert!(server
            .finish(b"c=biws,r=rOprNGfwEbeRWgbNEkqOrOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .is_err());
        // A wrong proof fails.
        assert!(server
            .finish(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .is_err());
    }

    #[test]
    fn malformed_messages_are_errors() {
        for bad in [
            &b""[..],
            b"n,,",
            b"p=tls-unique,,n=u,r=x",
            b"n,,r=x,n=u",
            b"n,,n=,r=x",
            b"n,,n=a=ZZ,r=x",
            b"n,a=other,n=u,r=x",
            &[0xff, 0xfe],
        ] {
            assert!(parse_client_first(bad).is_err(), "{bad:?}");
        }
        assert!(parse_client_first(&vec![b'a'; MAX_MESSAGE + 1]).is_err());
        let first = parse_client_first(b"n,,n=u=2Cx,r=abc").unwrap();
        assert_eq!(first.user, "u,x");
        let cred = credential_from_password("u,x", Mechanism::Sha512, "pw", 4096).unwrap();
        let server = ServerFirst::new(Mechanism::Sha512, cred, first).unwrap();
        for bad in [&b"c=biws"[..], b"c=biws,r=abc,p=AAAA", b"garbage", b",p="] {
            assert!(server.finish(bad).is_err(), "{bad:?}");
        }
    }
}
