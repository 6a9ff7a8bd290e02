//! `controller.quorum.voters` (`--voters`): `id@host:port,id@host:port,…`, as Kafka writes it.
//!
//! Invariant: a parsed voter set has at least one voter, unique ids, and ids ≥ 0.

use std::collections::BTreeMap;

use strata_meta::{MetaError, MetaErrorKind};

/// Voters by node id → cluster (gRPC) address `host:port`.
pub type Voters = BTreeMap<u64, String>;

/// Parses a voter list.
pub fn parse_voters(text: &str) -> Result<Voters, MetaError> {
    let bad = |why: String| {
        MetaError::new(
            MetaErrorKind::InvalidConfig,
            format!("controller.quorum.voters '{text}': {why} (expected id@host:port,…)"),
        )
    };
    let mut voters = Voters::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = part
            .split_once('@')
            .ok_or_else(|| bad(format!("'{part}' has no '@'")))?;
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|_| bad(format!("'{id}' is not a node id")))?;
        let addr = addr.trim();
        let port_ok = addr
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !port_ok {
            return Err(bad(format!("'{addr}' is not host:port")));
        }
        if voters.insert(id, addr.to_string()).is_some() {
            return Err(bad(format!("node id {id} appears twice")));
        }
    }
    if voters.is_empty() {
        return Err(bad("no voters".into()));
    }
    Ok(voters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafka_form() {
        let v = parse_voters("1@127.0.0.1:9192, 2@127.0.0.1:9193,3@localhost:9194").unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[&1], "127.0.0.1:9192");
        assert_eq!(v[&3], "localhost:9194");
    }

    #[test]
    fn refuses_bad_lists() {
        for bad in ["", "1", "x@h:1", "1@h", "1@h:99999", "1@h:1,1@h:2", "1@:5"] {
            assert!(parse_voters(bad).is_err(), "{bad}");
        }
    }
}
