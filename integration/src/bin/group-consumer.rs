//! A librdkafka group consumer as a separate process, for scenario tests that must kill it.
//!
//! Usage: `group-consumer BOOTSTRAP GROUP TOPIC [SESSION_MS] [INSTANCE_ID]`.
//! Subscribes to TOPIC in GROUP and prints one line per event on stdout (flushed):
//! `ASSIGNED p,p,...` after each assignment, `REVOKED` before each revocation,
//! `RECORD <partition> <offset> <value>` for each record — printed, then committed
//! synchronously (offset + 1) before the next poll. Closing stdin makes it close the consumer
//! cleanly (LeaveGroup, unless static) and print `CLOSED`; SIGKILL is the unclean exit.

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

struct Printer;

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

impl ClientContext for Printer {}

impl ConsumerContext for Printer {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(_) = rebalance {
            say("REVOKED");
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let mut parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
            parts.sort_unstable();
            let list: Vec<String> = parts.iter().map(i32::to_string).collect();
            say(&format!("ASSIGNED {}", list.join(",")));
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: group-consumer BOOTSTRAP GROUP TOPIC [SESSION_MS] [INSTANCE_ID]");
        std::process::exit(2);
    }
    let session = args.get(4).cloned().unwrap_or_else(|| "6000".to_string());
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args[1])
        .set("group.id", &args[2])
        .set("broker.address.family", "v4")
        .set("session.timeout.ms", &session)
        .set("heartbeat.interval.ms", "300")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "500")
        .set("retry.backoff.ms", "50");
    if let Some(instance) = args.get(5) {
        config.set("group.instance.id", instance);
    }
    let consumer: BaseConsumer<Printer> = config
        .create_with_context(Printer)
        .expect("creating the consumer");
    consumer.subscribe(&[&args[3]]).expect("subscribe");

    let stop = Arc::new(AtomicBool::new(false));
    let stop_reader = stop.clone();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            if line.is_err() {
                break;
            }
        }
        stop_reader.store(true, Ordering::SeqCst);
    });

    while !stop.load(Ordering::SeqCst) {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => {
                let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
                say(&format!(
                    "RECORD {} {} {}",
                    m.partition(),
                    m.offset(),
                    value
                ));
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(m.topic(), m.partition(), Offset::Offset(m.offset() + 1))
                    .expect("offset list");
                if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
                    eprintln!("commit failed: {e}");
                }
            }
            Some(Err(e)) => eprintln!("consumer error: {e}"),
        }
    }
    drop(consumer);
    say("CLOSED");
}
