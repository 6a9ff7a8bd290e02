//! `strata-loadgen`: a librdkafka-based load generator for Strata (or any
//! Kafka-compatible broker).

mod ceiling;
mod cli;
mod fetch;
#[cfg(test)]
mod mock_tests;
mod produce;
mod raw_fetch;
mod raw_produce;
mod report;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Produce(args) => produce::run(&args),
        cli::Command::Fetch(args) => fetch::run(&args),
        cli::Command::RawFetch(args) => raw_fetch::run(&args),
        cli::Command::RawProduce(args) => raw_produce::run(&args),
        cli::Command::LoopbackCeiling(args) => ceiling::run(&args),
    }
}
