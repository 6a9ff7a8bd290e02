//! A small network lab for partition tests: `n` network namespaces, each with one veth
//! interface on a bridge in the root namespace, so every node has its own address
//! (`10.77.<net>.<i>`) and the test process (on the bridge, `10.77.<net>.254`) reaches them all.
//!
//! Faults:
//! - [`NetLab::cut`] blackholes the routes between two nodes in both namespaces: they cannot
//!   talk to each other, while the test's clients still reach both;
//! - [`NetLab::isolate`] takes a node's link down: nobody reaches it, nor it anybody.
//!
//! Needs root (CAP_NET_ADMIN) and `ip`; [`NetLab::create`] answers `None` where namespaces
//! cannot be made, and the caller skips loudly. Dropping the lab deletes the namespaces (and
//! with them the veth pairs) and the bridge; brokers running in them must be stopped first.

use std::process::Command;

use anyhow::{bail, Context, Result};

/// The namespaces, their addresses and the bridge.
pub struct NetLab {
    tag: String,
    net: u8,
    nodes: usize,
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .with_context(|| format!("running ip {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl NetLab {
    /// Creates `nodes` namespaces on a fresh bridge, or `None` if this machine does not allow
    /// it (not root, no `ip`, no namespace support).
    pub fn create(nodes: usize) -> Result<Option<NetLab>> {
        let pid = std::process::id();
        let tag = format!("{:x}", pid % 0xfffff);
        let probe = format!("sprobe{tag}");
        if ip(&["netns", "add", &probe]).is_err() {
            return Ok(None);
        }
        ip(&["netns", "del", &probe])?;
        let lab = NetLab {
            net: (pid % 200) as u8 + 20,
            tag,
            nodes,
        };
        lab.build().context("building the network lab")?;
        Ok(Some(lab))
    }

    fn bridge(&self) -> String {
        format!("sbr{}", self.tag)
    }

    /// The namespace of node `i` (1-based).
    pub fn netns(&self, i: usize) -> String {
        format!("strata{}n{i}", self.tag)
    }

    fn host_veth(&self, i: usize) -> String {
        format!("sv{}h{i}", self.tag)
    }

    /// The address of node `i` (1-based).
    pub fn addr(&self, i: usize) -> String {
        format!("10.77.{}.{i}", self.net)
    }

    fn build(&self) -> Result<()> {
        let br = self.bridge();
        ip(&["link", "add", &br, "type", "bridge"])?;
        ip(&[
            "addr",
            "add",
            &format!("10.77.{}.254/24", self.net),
            "dev",
            &br,
        ])?;
        ip(&["link", "set", &br, "up"])?;
        for i in 1..=self.nodes {
            let ns = self.netns(i);
            let host = self.host_veth(i);
            let inner = format!("sv{}n{i}", self.tag);
            ip(&["netns", "add", &ns])?;
            ip(&["link", "add", &host, "type", "veth", "peer", "name", &inner])?;
            ip(&["link", "set", &inner, "netns", &ns])?;
            ip(&["link", "set", &host, "master", &br])?;
            ip(&["link", "set", &host, "up"])?;
            let cidr = format!("{}/24", self.addr(i));
            ip(&["-n", &ns, "addr", "add", &cidr, "dev", &inner])?;
            ip(&["-n", &ns, "link", "set", &inner, "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    /// Nodes `a` and `b` can no longer reach each other (both directions); everybody else
    /// still reaches both.
    pub fn cut(&self, a: usize, b: usize) -> Result<()> {
        let to_b = format!("{}/32", self.addr(b));
        let to_a = format!("{}/32", self.addr(a));
        ip(&["-n", &self.netns(a), "route", "add", "blackhole", &to_b])?;
        ip(&["-n", &self.netns(b), "route", "add", "blackhole", &to_a])
    }

    /// Undoes [`NetLab::cut`].
    pub fn heal(&self, a: usize, b: usize) -> Result<()> {
        let to_b = format!("{}/32", self.addr(b));
        let to_a = format!("{}/32", self.addr(a));
        ip(&["-n", &self.netns(a), "route", "del", "blackhole", &to_b])?;
        ip(&["-n", &self.netns(b), "route", "del", "blackhole", &to_a])
    }

    /// Takes node `i`'s link down (`up = false`) or up again.
    pub fn isolate(&self, i: usize, isolated: bool) -> Result<()> {
        let state = if isolated { "down" } else { "up" };
        ip(&["link", "set", &self.host_veth(i), state])
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        for i in 1..=self.nodes {
            let _ = ip(&["netns", "del", &self.netns(i)]);
        }
        let _ = ip(&["link", "del", &self.bridge()]);
    }
}
