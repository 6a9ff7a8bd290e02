//! End-to-end check of `produce` and `fetch` against librdkafka's in-process
//! mock cluster (real TCP on localhost, no Strata needed).

use clap::Parser;
use rdkafka::mocking::MockCluster;

use crate::cli::{Cli, Command};

fn parse(args: &[&str]) -> Command {
    let mut argv = vec!["strata-loadgen"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv).expect("valid arguments").command
}

#[test]
fn produce_then_fetch_against_mock_cluster() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("t", 1, 1).expect("create topic");
    let bs = cluster.bootstrap_servers();

    let Command::Produce(p) = parse(&[
        "produce",
        "--bootstrap-server",
        &bs,
        "--topic",
        "t",
        "--acks",
        "all",
        "--record-size",
        "100",
        "--records",
        "5000",
    ]) else {
        panic!("expected produce");
    };
    crate::produce::run(&p).expect("produce");

    let Command::Fetch(f) = parse(&["fetch", "--bootstrap-server", &bs, "--topic", "t"]) else {
        panic!("expected fetch");
    };
    crate::fetch::run(&f).expect("fetch");
}
