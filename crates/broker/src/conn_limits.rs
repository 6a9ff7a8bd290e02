//! Connection admission: `max.connections` and `max.connections.per.ip`.
//!
//! The listener asks [`ConnectionLimits::admit`] for every accepted socket. Above either limit
//! the socket is closed at once (no bytes are read), counted in
//! `strata_connections_rejected_total{reason}` and logged. Kafka closes per-IP excess the same
//! way; for the broker-wide limit Kafka delays `accept` instead — Strata closes, so a flood never
//! queues in the kernel's accept backlog behind the limit.
//!
//! Invariants:
//! - the counts equal the number of live [`ConnectionSlot`]s (a slot gives its place back when
//!   dropped, whatever ends the connection);
//! - a per-IP entry exists only while that IP has a live slot (the map cannot grow without bound).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// `max.connections` reached.
    MaxConnections,
    /// `max.connections.per.ip` reached for the peer's address.
    MaxConnectionsPerIp,
}

impl Rejection {
    /// The metric label and log reason.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Rejection::MaxConnections => "max_connections",
            Rejection::MaxConnectionsPerIp => "max_connections_per_ip",
        }
    }
}

/// Live connection counts and their limits. Shared by the listener and every connection.
#[derive(Debug)]
pub(crate) struct ConnectionLimits {
    max_total: usize,
    max_per_ip: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One admitted connection's place; released on drop.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
}

impl ConnectionLimits {
    /// Limits of `max_total` connections in all and `max_per_ip` from one address.
    pub(crate) fn new(max_total: usize, max_per_ip: usize) -> Arc<ConnectionLimits> {
        Arc::new(ConnectionLimits {
            max_total,
            max_per_ip,
            counts: Mutex::new(Counts::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        // Every update is complete before the guard drops, so a poisoned lock is consistent.
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a place for a connection from `ip`, or says which limit refuses it.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, Rejection> {
        let mut counts = self.lock();
        if counts.total >= self.max_total {
            return Err(Rejection::MaxConnections);
        }
        let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.max_per_ip {
            return Err(Rejection::MaxConnectionsPerIp);
        }
        counts.total += 1;
        counts.per_ip.insert(ip, from_ip + 1);
        Ok(ConnectionSlot {
            limits: Arc::clone(self),
            ip,
        })
    }

    /// Live connections in all and from `ip`.
    pub(crate) fn live(&self, ip: IpAddr) -> (usize, usize) {
        let counts = self.lock();
        (counts.total, counts.per_ip.get(&ip).copied().unwrap_or(0))
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = self.limits.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_and_total_limits_refuse_and_slots_give_back() {
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let c: IpAddr = "::1".parse().unwrap();
        let limits = ConnectionLimits::new(4, 2);
        let a1 = limits.admit(a).unwrap();
        let _a2 = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).unwrap_err(), Rejection::MaxConnectionsPerIp);
        let _b1 = limits.admit(b).unwrap();
        let _b2 = limits.admit(b).unwrap();
        assert_eq!(limits.admit(c).unwrap_err(), Rejection::MaxConnections);
        assert_eq!(limits.live(a), (4, 2));
        drop(a1);
        assert_eq!(limits.live(a), (3, 1));
        let _c1 = limits.admit(c).unwrap();
        assert_eq!(limits.admit(a).unwrap_err(), Rejection::MaxConnections);
    }

    #[test]
    fn entries_for_gone_ips_are_removed() {
        let limits = ConnectionLimits::new(10, 10);
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        drop(limits.admit(ip).unwrap());
        assert!(limits.lock().per_ip.is_empty());
        assert_eq!(limits.live(ip), (0, 0));
    }
}
