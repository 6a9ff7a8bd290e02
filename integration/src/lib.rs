//! Helpers for scenario tests: the real `strata` binary driven by real Kafka clients.
//!
//! Every scenario in `tests/` follows the same shape:
//!
//! 1. [`run`] gives the test a tokio runtime, a time limit and a watchdog. A test that overruns
//!    its limit fails; one that hangs in a blocking call is aborted by the watchdog, which kills
//!    every broker process this test process started first.
//! 2. [`Broker::start`] spawns `strata serve` on a free loopback port with a fresh temporary
//!    data directory, and waits for the port to accept connections. Its stderr goes to a file in
//!    the temporary directory; if the test panics, the tail of that file is printed.
//!    Dropping the [`Broker`] kills the process.
//! 3. The test talks to it with librdkafka (the [`client`] helpers), `kcat` or the `strata` CLI
//!    ([`tools`]), or raw TCP, and asserts exact outcomes: bytes, offsets, counts and order.
//!
//! Tests never assert on speed. Each one runs its own broker, so nextest can run them in
//! parallel.

pub mod acl_broker;
pub mod acl_clients;
pub mod archive_rows;
pub mod broker;
pub mod certs;
pub mod client;
pub mod cluster;
pub mod durability;
pub mod groups;
pub mod kcat_tls;
pub mod keyed;
pub mod listeners;
pub mod moto;
pub mod netns;
pub mod prom;
pub mod pyclient;
pub mod raw;
pub mod refusal;
pub mod run;
pub mod sasl_broker;
pub mod sasl_login;
pub mod secure_broker;
pub mod tier;
pub mod tls_broker;
pub mod tls_clients;
pub mod tls_records;
pub mod tools;
pub mod txn;

pub use broker::Broker;
pub use client::{
    admin, consumer, create_topic, producer, read_partitions, read_topic, send_all, Delivered,
    Outgoing, Record,
};
pub use run::run;
pub use tools::{kcat, strata_cli, CommandOutput};
