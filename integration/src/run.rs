//! Running one scenario with a time limit.
//!
//! [`run`] builds a two-worker tokio runtime and drives the test future under
//! `tokio::time::timeout(limit)`. Dropping the future on timeout drops its [`crate::Broker`]s,
//! which kills them. A test stuck in a blocking call cannot be cancelled that way, so a watchdog
//! thread waits `limit + WATCHDOG_GRACE`; if the test has not finished by then it kills every
//! live broker process and aborts the test process.
//!
//! On failure (an `Err`, a timeout or a panic) the tails of the logs of the brokers the test
//! started are printed to stderr, which nextest shows with the failure.

use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::broker;

/// Extra time the watchdog gives a test beyond its limit before aborting the process.
pub const WATCHDOG_GRACE: Duration = Duration::from_secs(30);

/// Runs `test` to completion within `limit`, panicking (failing the test) if it returns an error
/// or overruns.
pub fn run<F>(limit: Duration, test: F)
where
    F: Future<Output = anyhow::Result<()>>,
{
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let watchdog = thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(limit + WATCHDOG_GRACE) {
            eprintln!(
                "watchdog: the test is still running {:?} after its limit of {limit:?}; \
                 killing its brokers and aborting",
                WATCHDOG_GRACE
            );
            broker::kill_all_live();
            std::process::abort();
        }
    });

    let started = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("building the tokio runtime");
        runtime.block_on(async { tokio::time::timeout(limit, test).await })
    }));
    // Ends the watchdog whether the test passed or not.
    drop(done_tx);
    let _ = watchdog.join();

    let failure = match outcome {
        Ok(Ok(Ok(()))) => return,
        Ok(Ok(Err(e))) => format!("test failed after {:?}: {e:#}", started.elapsed()),
        Ok(Err(_)) => format!("test exceeded its time limit of {limit:?}"),
        Err(panic) => {
            print_broker_logs();
            resume_unwind(panic);
        }
    };
    print_broker_logs();
    panic!("{failure}");
}

fn print_broker_logs() {
    for (label, tail) in broker::take_finished_logs() {
        eprintln!("----- {label}: log tail -----\n{tail}\n----- end of log -----");
    }
}
