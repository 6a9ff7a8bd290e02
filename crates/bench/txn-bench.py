#!/usr/bin/env python3
"""Transactional produce benchmark (issue 9): throughput and commit latency of a
confluent-kafka (librdkafka) transactional producer at 1, 100 and 1000 records per
transaction, against a throw-away release broker on loopback.

Usage: crates/bench/txn-bench.py
Knobs (environment variables):
  SIZES=1,100,1000     records per transaction
  RECORD_BYTES=100     value size (no keys)
  SECONDS=10           measured time per size (after WARMUP_TXNS transactions)
  WARMUP_TXNS=5        transactions before the measurement starts
  PARTITIONS=1         partitions of the topic; a transaction's records go round-robin
  MODES=durable,pagecache
                       durable: the broker's defaults (acks=all acknowledged after a
                       group-commit fsync); pagecache: --set strata.acks.all.fsync=false
  BASELINE=1           also measure an idempotent, non-transactional producer that flushes
                       after every SIZE records (same bytes; what the transaction adds)
  SKIP_BUILD=1         do not run `cargo build --release -p strata-cli`
  STRATA_BIN=PATH      broker binary (default $CARGO_TARGET_DIR/release/strata)
  BOOTSTRAP=HOST:PORT  use a running broker instead of starting one (MODES is then ignored)
  KEEP=1               keep the temporary directory (broker logs)

Per row: records/s and MB/s (10^6 bytes of payload) over the measured time; commit latency =
the duration of commit_transaction() (which also waits for the transaction's outstanding
records, then EndTxn), p50/p99/max; txn = begin_transaction() to commit returned; broker and
client CPU (100 % = one core) over the measured time, and `other`: every other process and
kernel thread (the noise indicator; rows with high `other` are not trustworthy).
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[txn-bench] {msg}", file=sys.stderr, flush=True)


def die(msg):
    log(f"error: {msg}")
    sys.exit(1)


def env_int(name, default):
    return int(os.environ.get(name, default))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def busy_seconds():
    """CPU seconds all cores spent not idle so far (/proc/stat: user nice system irq softirq
    steal)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return sum(int(fields[i]) for i in (1, 2, 3, 6, 7, 8)) / CLK_TCK


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[i]


class Broker:
    def __init__(self, binary, workdir, name, sets):
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.data = os.path.join(workdir, f"data-{name}")
        self.logf = open(os.path.join(workdir, f"broker-{name}.log"), "ab")
        args = [binary, "serve", "--data-dir", self.data, "--listen", self.bootstrap]
        for s in sets:
            args += ["--set", s]
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "warn")
        self.proc = subprocess.Popen(args, stdout=self.logf, stderr=self.logf,
                                     stdin=subprocess.DEVNULL, env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                die(f"broker {name} exited with {self.proc.returncode}; see {self.logf.name}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        die(f"broker {name} did not listen within 30 s")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()


def create_topic(bootstrap, topic, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=30)
    try:
        fs[topic].result(60)
    except KafkaException as e:
        die(f"creating {topic}: {e}")


def producer(bootstrap, txn_id=None):
    conf = {
        "bootstrap.servers": bootstrap,
        "broker.address.family": "v4",
        "linger.ms": 5,
        "batch.size": 1048576,
        "acks": "all",
        "enable.idempotence": True,
        "message.timeout.ms": 60000,
        "error_cb": lambda err: log(f"client error: {err}"),
    }
    if txn_id:
        conf["transactional.id"] = txn_id
    return Producer(conf)


def produce_batch(p, topic, size, partitions, payload, state):
    for _ in range(size):
        while True:
            try:
                p.produce(topic, payload, partition=state["next"] % partitions)
                break
            except BufferError:
                p.poll(0.01)
        state["next"] += 1
    p.poll(0)


def run_txn(bootstrap, topic, size, partitions, record_bytes, seconds, warmup, broker_pid):
    p = producer(bootstrap, f"txn-bench-{topic}")
    try:
        p.init_transactions(30)
    except KafkaException as e:
        die(f"init_transactions failed: {e.args[0]}")
    payload = b"x" * record_bytes
    state = {"next": 0}
    commits, txns = [], []
    records = 0
    measuring = False
    n = 0
    t_start = c0 = b0 = None
    while True:
        if not measuring and n >= warmup:
            measuring = True
            t_start, c0 = time.perf_counter(), time.process_time()
            b0 = cpu_seconds(broker_pid) if broker_pid else 0.0
            all0 = busy_seconds()
        if measuring and time.perf_counter() - t_start >= seconds:
            break
        t0 = time.perf_counter()
        try:
            p.begin_transaction()
            produce_batch(p, topic, size, partitions, payload, state)
            t1 = time.perf_counter()
            p.commit_transaction(60)
        except KafkaException as e:
            die(f"transaction of {size} record(s) failed: {e.args[0]}")
        t2 = time.perf_counter()
        n += 1
        if measuring:
            commits.append((t2 - t1) * 1000)
            txns.append((t2 - t0) * 1000)
            records += size
    elapsed = time.perf_counter() - t_start
    client_cpu = (time.process_time() - c0) / elapsed
    broker_cpu = (cpu_seconds(broker_pid) - b0) / elapsed if broker_pid else float("nan")
    other_cpu = (busy_seconds() - all0) / elapsed - client_cpu - broker_cpu
    commits.sort()
    txns.sort()
    return {
        "txns": len(txns),
        "records": records,
        "rps": records / elapsed,
        "mbps": records * record_bytes / elapsed / 1e6,
        "commit_p50": percentile(commits, 0.50),
        "commit_p99": percentile(commits, 0.99),
        "commit_max": commits[-1] if commits else float("nan"),
        "txn_p50": percentile(txns, 0.50),
        "txn_p99": percentile(txns, 0.99),
        "broker_cpu": broker_cpu,
        "client_cpu": client_cpu,
        "other_cpu": other_cpu,
    }


def run_baseline(bootstrap, topic, size, partitions, record_bytes, seconds, broker_pid):
    """Idempotent producer, flush() after every `size` records: the same round trips without
    the transaction (AddPartitionsToTxn, EndTxn, markers)."""
    p = producer(bootstrap)
    payload = b"x" * record_bytes
    state = {"next": 0}
    flushes = []
    records = 0
    t_start, c0 = time.perf_counter(), time.process_time()
    b0 = cpu_seconds(broker_pid) if broker_pid else 0.0
    all0 = busy_seconds()
    while time.perf_counter() - t_start < seconds:
        t0 = time.perf_counter()
        produce_batch(p, topic, size, partitions, payload, state)
        if p.flush(60):
            die("baseline: records not delivered within 60 s")
        flushes.append((time.perf_counter() - t0) * 1000)
        records += size
    elapsed = time.perf_counter() - t_start
    flushes.sort()
    client_cpu = (time.process_time() - c0) / elapsed
    broker_cpu = (cpu_seconds(broker_pid) - b0) / elapsed if broker_pid else float("nan")
    return {
        "txns": len(flushes),
        "records": records,
        "rps": records / elapsed,
        "mbps": records * record_bytes / elapsed / 1e6,
        "commit_p50": float("nan"),
        "commit_p99": float("nan"),
        "commit_max": float("nan"),
        "txn_p50": percentile(flushes, 0.50),
        "txn_p99": percentile(flushes, 0.99),
        "broker_cpu": broker_cpu,
        "client_cpu": client_cpu,
        "other_cpu": (busy_seconds() - all0) / elapsed - client_cpu - broker_cpu,
    }


def main():
    sizes = [int(s) for s in os.environ.get("SIZES", "1,100,1000").split(",")]
    record_bytes = env_int("RECORD_BYTES", 100)
    seconds = float(os.environ.get("SECONDS", "10"))
    warmup = env_int("WARMUP_TXNS", 5)
    partitions = env_int("PARTITIONS", 1)
    baseline = os.environ.get("BASELINE", "1") == "1"
    modes = os.environ.get("MODES", "durable,pagecache").split(",")
    external = os.environ.get("BOOTSTRAP")

    binary = os.environ.get("STRATA_BIN", os.path.join(TARGET, "release", "strata"))
    if not external:
        if os.environ.get("SKIP_BUILD", "0") != "1":
            log("building the release broker")
            subprocess.run(["cargo", "build", "--release", "-p", "strata-cli"], cwd=ROOT,
                           check=True)
        if not os.access(binary, os.X_OK):
            die(f"missing {binary}")

    workdir = tempfile.mkdtemp(prefix="strata-txn-bench.")
    rows = []
    try:
        targets = [("external", None)] if external else [(m, None) for m in modes]
        for mode, _ in targets:
            broker = None
            if external:
                bootstrap, pid = external, None
            else:
                sets = ["strata.acks.all.fsync=false"] if mode == "pagecache" else []
                broker = Broker(binary, workdir, mode, sets)
                bootstrap, pid = broker.bootstrap, broker.proc.pid
            try:
                for size in sizes:
                    topic = f"txn-{mode}-{size}"
                    create_topic(bootstrap, topic, partitions)
                    log(f"{mode}: {size} record(s) per transaction, {seconds} s")
                    r = run_txn(bootstrap, topic, size, partitions, record_bytes, seconds,
                                warmup, pid)
                    rows.append((mode, "txn", size, r))
                    if baseline:
                        topic = f"plain-{mode}-{size}"
                        create_topic(bootstrap, topic, partitions)
                        log(f"{mode}: baseline, flush every {size} record(s), {seconds} s")
                        r = run_baseline(bootstrap, topic, size, partitions, record_bytes,
                                         seconds, pid)
                        rows.append((mode, "idem+flush", size, r))
            finally:
                if broker:
                    broker.stop()
    finally:
        if os.environ.get("KEEP", "0") == "1":
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print(f"records of {record_bytes} B, {partitions} partition(s), {seconds:g} s per row")
    header = (f"{'broker':<10} {'producer':<11} {'rec/txn':>7} {'txns':>6} {'records/s':>10} "
              f"{'MB/s':>7} {'commit p50':>10} {'p99':>8} {'max':>8} {'txn p50':>8} "
              f"{'p99':>8} {'broker':>7} {'client':>7} {'other':>6}")
    print(header)
    def ms(v, width):
        return f"{'-':>{width + 2}}" if v != v else f"{v:>{width}.2f}ms"

    for mode, kind, size, r in rows:
        print(f"{mode:<10} {kind:<11} {size:>7} {r['txns']:>6} {r['rps']:>10.0f} "
              f"{r['mbps']:>7.2f} {ms(r['commit_p50'], 8)} {ms(r['commit_p99'], 6)} "
              f"{ms(r['commit_max'], 6)} {ms(r['txn_p50'], 6)} {ms(r['txn_p99'], 6)} "
              f"{r['broker_cpu'] * 100:>6.0f}% {r['client_cpu'] * 100:>6.0f}% "
              f"{r['other_cpu'] * 100:>5.0f}%")


if __name__ == "__main__":
    main()
