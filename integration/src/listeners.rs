//! Starting a broker on a listener list whose ports the test picks ([`Broker::start_listeners`]),
//! when a port may be taken by someone else between [`free_port`] and the broker's bind: the
//! broker then exits with "address in use", and [`start_on_free_ports`] tries again with new
//! ports, up to [`ATTEMPTS`] times. Any other failure is returned at once.

use anyhow::{Context, Result};

use crate::broker::{free_port, Broker};

/// How many sets of ports [`start_on_free_ports`] tries.
pub const ATTEMPTS: usize = 5;

/// Picks `count` free ports, lets `make` turn them into a `--listen` list and the other
/// arguments of `strata serve` (for example `--metrics-listen` on one of them), and starts the
/// broker with [`Broker::start_listeners`]. Returns the broker and the ports it got.
pub fn start_on_free_ports<F>(count: usize, make: F) -> Result<(Broker, Vec<u16>)>
where
    F: Fn(&[u16]) -> (String, Vec<String>),
{
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let ports = (0..count)
            .map(|_| free_port())
            .collect::<Result<Vec<_>>>()?;
        let (listen, args) = make(&ports);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match Broker::start_listeners(&listen, &args) {
            Ok(broker) => return Ok((broker, ports)),
            Err(e) if format!("{e:#}").contains("in use") => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.context("no attempt made")?).context("every set of free ports was taken")
}
