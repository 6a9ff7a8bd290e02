//! SASL PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`, checked against the user's stored
//! SCRAM credential (no cleartext password is kept anywhere).
//!
//! Invariant: a malformed message or a message longer than [`super::scram::MAX_MESSAGE`] is an
//! `Err`, never a panic.

/// The user and password of a PLAIN message.
pub fn parse(msg: &[u8]) -> Result<(String, String), String> {
    if msg.len() > super::scram::MAX_MESSAGE {
        return Err("PLAIN message too long".into());
    }
    let mut parts = msg.split(|b| *b == 0);
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed PLAIN message".into());
    };
    let text = |b: &[u8]| {
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| "PLAIN message is not UTF-8".to_string())
    };
    let (authzid, user, password) = (text(authzid)?, text(user)?, text(password)?);
    if user.is_empty() {
        return Err("PLAIN user name is empty".into());
    }
    if !authzid.is_empty() && authzid != user {
        return Err("PLAIN authorization id differs from the user".into());
    }
    Ok((user, password))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn plain_messages() {
        assert_eq!(
            parse(b"\0alice\0secret").unwrap(),
            ("alice".to_string(), "secret".to_string())
        );
        assert_eq!(parse(b"alice\0alice\0pw").unwrap().0, "alice");
        for bad in [
            &b""[..],
            b"\0\0pw",
            b"bob\0alice\0pw",
            b"a\0b",
            b"\0a\0b\0c",
            &[0, 0xff, 0, 1],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
