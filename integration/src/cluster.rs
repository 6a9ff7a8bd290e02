//! Several `strata serve` processes on loopback forming one cluster: each gets `--node-id N`,
//! the shared `--voters` list (cluster ports chosen up front) and its own data directory.

use anyhow::Result;

use crate::broker::{free_port, Broker};

/// A running cluster; node `i` (1-based) is `brokers[i - 1]`.
pub struct Cluster {
    /// The members, by node id − 1.
    pub brokers: Vec<Broker>,
    /// The `--voters` value.
    pub voters: String,
}

impl Cluster {
    /// Starts `n` nodes (ids 1..=n) with `extra_args` each, and waits until all listen.
    pub fn start(n: usize, extra_args: &[&str]) -> Result<Cluster> {
        let extra: Vec<String> = extra_args.iter().map(|a| a.to_string()).collect();
        Cluster::start_each(n, |_| extra.clone())
    }

    /// Starts `n` nodes (ids 1..=n), node `id` with the extra arguments `args(id)` (for
    /// example its own `--set broker.rack=r<id>`), and waits until all listen.
    pub fn start_each(n: usize, args: impl Fn(usize) -> Vec<String>) -> Result<Cluster> {
        Cluster::launch(n, args, &[])
    }

    /// [`Cluster::start`] with extra environment variables for every node.
    pub fn start_with_env(
        n: usize,
        extra_args: &[&str],
        env: &[(String, String)],
    ) -> Result<Cluster> {
        let extra: Vec<String> = extra_args.iter().map(|a| a.to_string()).collect();
        Cluster::launch(n, |_| extra.clone(), env)
    }

    fn launch(
        n: usize,
        args: impl Fn(usize) -> Vec<String>,
        env: &[(String, String)],
    ) -> Result<Cluster> {
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect::<Result<_>>()?;
        let voters = ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}@127.0.0.1:{p}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut brokers = Vec::new();
        for i in 1..=n {
            let id = i.to_string();
            let extra = args(i);
            let mut all = vec!["--node-id", id.as_str(), "--voters", voters.as_str()];
            all.extend(extra.iter().map(String::as_str));
            brokers.push(Broker::prepare(&all, env)?);
        }
        for b in &mut brokers {
            b.spawn()?;
        }
        for b in &mut brokers {
            b.wait_ready()?;
        }
        Ok(Cluster { brokers, voters })
    }

    /// Starts one node in each namespace of `lab` (node `i` listens on `<addr i>:9092`, its
    /// quorum on `<addr i>:9192`), with `extra_args` each, and waits until all listen.
    pub fn start_in(lab: &crate::netns::NetLab, n: usize, extra_args: &[&str]) -> Result<Cluster> {
        let voters = (1..=n)
            .map(|i| format!("{i}@{}:9192", lab.addr(i)))
            .collect::<Vec<_>>()
            .join(",");
        let mut brokers = Vec::new();
        for i in 1..=n {
            let id = i.to_string();
            let host: std::net::Ipv4Addr = lab.addr(i).parse()?;
            let mut args = vec!["--node-id", id.as_str(), "--voters", voters.as_str()];
            args.extend_from_slice(extra_args);
            brokers.push(Broker::prepare_in(&lab.netns(i), host, 9092, &args, &[])?);
        }
        for b in &mut brokers {
            b.spawn()?;
        }
        for b in &mut brokers {
            b.wait_ready()?;
        }
        Ok(Cluster { brokers, voters })
    }

    /// Node `id` (1-based).
    pub fn node(&mut self, id: usize) -> &mut Broker {
        &mut self.brokers[id - 1]
    }

    /// Every member's Kafka address, comma-separated.
    pub fn bootstrap(&self) -> String {
        self.brokers
            .iter()
            .map(Broker::bootstrap)
            .collect::<Vec<_>>()
            .join(",")
    }
}
