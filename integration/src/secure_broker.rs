//! The broker process the TLS, SASL and ACL scenarios (`tests/security_{tls,sasl,acl}_*.rs`)
//! start: `strata serve` on loopback listeners whose ports are picked free, with the test
//! server certificate (`--tls-cert`, `--tls-key` from [`TestCerts`]), a Prometheus listener and
//! no initial rebalance delay, plus the scenario's own arguments; and its graceful restart.
//!
//! Invariants: a port taken between picking and binding means new ports (as
//! [`start_on_free_ports`]); a restart is a SIGTERM the broker must exit 0 from, then the same
//! command line on the same ports and data directory.

use anyhow::{ensure, Result};

use crate::broker::Broker;
use crate::certs::TestCerts;
use crate::listeners::start_on_free_ports;

/// A started broker: the process, the ports and addresses of its listeners (in the order of
/// the `protocols` given to [`start_secure`]) and its Prometheus port.
pub struct SecureBroker {
    /// The process.
    pub broker: Broker,
    /// One port per listener.
    pub ports: Vec<u16>,
    /// `127.0.0.1:<port>` per listener.
    pub addrs: Vec<String>,
    /// The Prometheus port (`--metrics-listen`).
    pub metrics: u16,
}

/// Starts `strata serve` with one loopback listener on a free port per entry of `protocols`
/// (`""` for the default, PLAINTEXT, `"SSL"`, `"SASL_SSL"`, …), the server certificate and key
/// of `certs`, `--metrics-listen` on one more free port, `group.initial.rebalance.delay.ms=0`,
/// and `extra(listener ports)`.
pub fn start_secure(
    certs: &TestCerts,
    protocols: &[&str],
    extra: impl Fn(&[u16]) -> Vec<String>,
) -> Result<SecureBroker> {
    let (broker, mut ports) = start_on_free_ports(protocols.len() + 1, |p| {
        let (own, metrics) = p.split_at(protocols.len());
        let listen: Vec<String> = protocols
            .iter()
            .zip(own)
            .map(|(protocol, port)| match *protocol {
                "" => format!("127.0.0.1:{port}"),
                protocol => format!("{protocol}://127.0.0.1:{port}"),
            })
            .collect();
        let mut args = vec![
            "--tls-cert".to_string(),
            certs.server_cert(),
            "--tls-key".to_string(),
            certs.server_key(),
            "--metrics-listen".to_string(),
            format!("127.0.0.1:{}", metrics[0]),
            "--set".to_string(),
            "group.initial.rebalance.delay.ms=0".to_string(),
        ];
        args.extend(extra(own));
        (listen.join(","), args)
    })?;
    let metrics = ports.pop().unwrap_or_default();
    Ok(SecureBroker {
        broker,
        addrs: ports.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
        ports,
        metrics,
    })
}

/// SIGTERM (the broker must exit 0), then the same command line again on the same ports and
/// data directory.
pub fn restart_gracefully(broker: &mut Broker) -> Result<()> {
    let status = broker.sigterm_and_wait()?;
    ensure!(
        status.success(),
        "the broker exited with {status} on SIGTERM"
    );
    broker.restart()
}
