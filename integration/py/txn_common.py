"""Shared helpers of the transaction scenarios (integration/py/txn_*.py, driven by
integration/tests/txn_*.rs) with confluent-kafka (librdkafka bundled).

Conventions of every scenario script:
- it asserts Kafka's documented behaviour itself with `expect`/`fail`; a failed check prints
  `FAIL: <what>` (to stdout and stderr) and exits with status 1; a client call that fails
  unexpectedly prints `FAIL: <call> failed: <error name> (<code>) <message> fatal=.. retriable=..
  abortable=..` (for example `FAIL: init_transactions failed: ...`);
- it prints machine-checkable lines that the Rust test parses: `REC <label> <partition>
  <offset> <value>` for a record read back, `KV <key> <value>` for a figure or outcome,
  `STEP <name>` as it reaches a phase;
- `DONE` is the last line of a run that passed every check.
"""
import os
import sys
import threading
import time
import uuid

from confluent_kafka import (
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
    OFFSET_BEGINNING,
)
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

READ_COMMITTED = "read_committed"
READ_UNCOMMITTED = "read_uncommitted"

# Kafka error codes a fenced producer may see (librdkafka maps both to _FENCED).
FENCED_CODES = (
    KafkaError._FENCED,
    KafkaError.PRODUCER_FENCED,
    KafkaError.INVALID_PRODUCER_EPOCH,
)

_print_lock = threading.Lock()


def out(line):
    """One machine-checkable line on stdout (flushed; safe from several threads)."""
    with _print_lock:
        print(line, flush=True)


def log(msg):
    """Diagnostics on stderr (the Rust test shows them on failure)."""
    with _print_lock:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class CheckFailed(Exception):
    pass


def fail(msg):
    with _print_lock:
        print(f"FAIL: {msg}", flush=True)
        print(f"FAIL: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def expect(actual, expected, what):
    if actual != expected:
        fail(f"{what}: expected {expected!r}, got {actual!r}")


def describe_error(err):
    """`NAME (code) message fatal=.. retriable=.. abortable=..` of a KafkaError."""
    if isinstance(err, KafkaException):
        err = err.args[0]
    if not isinstance(err, KafkaError):
        return repr(err)
    return (
        f"{err.name()} ({err.code()}) {err.str()} fatal={err.fatal()} "
        f"retriable={err.retriable()} abortable={err.txn_requires_abort()}"
    )


def kafka_error(exc):
    """The KafkaError inside a KafkaException (or None)."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def call(what, fn, *args, **kwargs):
    """Runs a client call; on a KafkaException fails the scenario naming the call."""
    try:
        return fn(*args, **kwargs)
    except KafkaException as e:
        fail(f"{what} failed: {describe_error(e)}")


def base_conf(bootstrap, **extra):
    conf = {
        "bootstrap.servers": bootstrap,
        "broker.address.family": "v4",
        "socket.timeout.ms": 10000,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 500,
        "retry.backoff.ms": 50,
        "error_cb": lambda err: log(f"client error: {describe_error(err)}"),
        # librdkafka >= 2.10 re-bootstraps when every known broker is down at once (always,
        # when the only broker is killed) and decommissions the old broker handle; a
        # send_offsets_to_transaction whose TxnOffsetCommit waits on that handle then hangs
        # past its timeout (seen with 2.16 after a single-node restart). That is the client's
        # problem, not the broker's: the scenarios turn re-bootstrapping off
        # (TXN_IT_REBOOTSTRAP=1 keeps librdkafka's default, to reproduce it).
        "metadata.recovery.strategy": (
            "rebootstrap" if os.environ.get("TXN_IT_REBOOTSTRAP") == "1" else "none"
        ),
    }
    # TXN_IT_DEBUG=eos,protocol (librdkafka debug contexts) logs the client's view to stderr.
    if os.environ.get("TXN_IT_DEBUG"):
        conf["debug"] = os.environ["TXN_IT_DEBUG"]
    conf.update(extra)
    return conf


def txn_producer(bootstrap, txn_id, **extra):
    """A transactional producer (`transactional.id` = txn_id; idempotence and acks=all are
    implied). Not yet initialised: call `init(p)`."""
    conf = base_conf(
        bootstrap,
        **{
            "transactional.id": txn_id,
            "linger.ms": 5,
            "transaction.timeout.ms": 60000,
            "message.timeout.ms": 60000,
            "request.timeout.ms": 10000,
        },
    )
    conf.update(extra)
    return Producer(conf)


def init(producer, timeout=30):
    call("init_transactions", producer.init_transactions, timeout)


def plain_producer(bootstrap, **extra):
    conf = base_conf(bootstrap, **{"acks": "all", "linger.ms": 5, "enable.idempotence": True})
    conf.update(extra)
    return Producer(conf)


def produce_all(producer, topic, records, what="produce"):
    """Produces (partition, key, value) tuples and waits for every delivery report; returns
    [(partition, offset)] in order. Fails the scenario on a delivery error."""
    results = [None] * len(records)
    errors = []

    def report(i):
        def cb(err, msg):
            if err is not None:
                errors.append(f"record {i}: {describe_error(err)}")
            else:
                results[i] = (msg.partition(), msg.offset())

        return cb

    for i, (partition, key, value) in enumerate(records):
        while True:
            try:
                producer.produce(
                    topic,
                    value=value.encode() if isinstance(value, str) else value,
                    key=key.encode() if isinstance(key, str) else key,
                    partition=partition,
                    on_delivery=report(i),
                )
                break
            except BufferError:
                producer.poll(0.05)
            except KafkaException as e:
                fail(f"{what}: produce failed: {describe_error(e)}")
        producer.poll(0)
    remaining = producer.flush(60)
    if remaining:
        fail(f"{what}: {remaining} record(s) not delivered within 60 s")
    if errors:
        fail(f"{what}: delivery failed: {errors[:5]}")
    return results


def consumer(bootstrap, isolation, group=None, **extra):
    conf = base_conf(
        bootstrap,
        **{
            "group.id": group or f"txn-it-reader-{uuid.uuid4()}",
            "isolation.level": isolation,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 100,
        },
    )
    conf.update(extra)
    return Consumer(conf)


def poll_until_eof(c, partitions, timeout=30.0, quiet=0.0):
    """Polls an assigned consumer until every partition in `partitions` (topic, partition)
    reported end-of-partition after its last record, then keeps polling `quiet` more seconds
    (to catch records that should not be there). Returns [(partition, offset, key, value)]."""
    records = []
    eof = set()
    deadline = time.time() + timeout
    quiet_until = None
    while True:
        now = time.time()
        if quiet_until is None and eof >= set(partitions):
            if quiet <= 0:
                return records
            quiet_until = now + quiet
        if quiet_until is not None and now >= quiet_until:
            return records
        if now >= deadline:
            fail(
                f"end of partitions {sorted(set(partitions) - eof)} not reached within "
                f"{timeout} s ({len(records)} records read)"
            )
        msg = c.poll(0.1)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                eof.add((msg.topic(), msg.partition()))
                continue
            fail(f"consumer error: {describe_error(msg.error())}")
        eof.discard((msg.topic(), msg.partition()))
        records.append(
            (
                msg.partition(),
                msg.offset(),
                None if msg.key() is None else msg.key().decode(),
                None if msg.value() is None else msg.value().decode(),
            )
        )


def read_all(bootstrap, topic, partitions, isolation, timeout=30.0, quiet=0.0):
    """Reads `topic` partitions 0..partitions-1 from the beginning with `isolation` until
    every partition reports its end; [(partition, offset, key, value)]."""
    c = consumer(bootstrap, isolation)
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        return poll_until_eof(
            c, [(topic, p) for p in range(partitions)], timeout=timeout, quiet=quiet
        )
    finally:
        c.close()


def emit(label, records):
    """Prints `REC <label> <partition> <offset> <value>` per record (value `-` for null)."""
    for p, o, _k, v in records:
        out(f"REC {label} {p} {o} {'-' if v is None else v}")


def pov(records):
    """[(partition, offset, value)] of records."""
    return [(p, o, v) for p, o, _k, v in records]


def list_offsets(bootstrap, topic, partitions, isolation, timeout=15):
    """ListOffsets latest with `isolation` through the AdminClient: {partition: offset}
    (the last stable offset for read_committed, the high watermark for read_uncommitted)."""
    admin = AdminClient(base_conf(bootstrap))
    level = (
        IsolationLevel.READ_COMMITTED
        if isolation == READ_COMMITTED
        else IsolationLevel.READ_UNCOMMITTED
    )
    req = {TopicPartition(topic, p): OffsetSpec.latest() for p in range(partitions)}
    try:
        futures = admin.list_offsets(req, isolation_level=level, request_timeout=timeout)
        return {tp.partition: f.result(timeout=timeout).offset for tp, f in futures.items()}
    except KafkaException as e:
        fail(f"ListOffsets ({isolation}) failed: {describe_error(e)}")


def create_topic(bootstrap, topic, partitions, replication=1, configs=None):
    admin = AdminClient(base_conf(bootstrap))
    futures = admin.create_topics(
        [NewTopic(topic, partitions, replication, config=configs or {})],
        request_timeout=30,
        operation_timeout=30,
    )
    try:
        futures[topic].result(timeout=60)
    except KafkaException as e:
        if kafka_error(e) and kafka_error(e).code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return
        fail(f"create topic {topic} failed: {describe_error(e)}")


def wait_stdin(word):
    """Blocks until the driving test writes `word` on stdin (fails on EOF)."""
    line = sys.stdin.readline()
    if not line:
        fail(f"stdin closed while waiting for {word}")
    if line.strip() != word:
        fail(f"expected {word} on stdin, got {line.strip()!r}")


def init_retrying(producer, what="init_transactions", limit=90.0):
    """init_transactions, called again while it fails with a retriable error (a broker or
    coordinator that is restarting) for up to `limit` seconds."""
    deadline = time.time() + limit
    while True:
        try:
            producer.init_transactions(30)
            return
        except KafkaException as e:
            err = kafka_error(e)
            if err is not None and err.retriable() and time.time() < deadline:
                log(f"{what}: retrying after {describe_error(e)}")
                time.sleep(0.5)
                continue
            fail(f"{what} failed: {describe_error(e)}")


def commit_or_recover(holder, make_producer, what, limit=120.0):
    """Commits the open transaction of holder["p"] the way an application must (librdkafka's
    documented error handling): commit_transaction again on a retriable error; on an abortable
    one abort_transaction; on a fatal one a new producer with the same transactional.id
    (`make_producer()`, init_transactions retried), which completes or aborts what the old one
    left. Returns "committed", "aborted" (the transaction was aborted by this producer) or
    "fatal:<error name>" (the outcome is for the caller to find out: the new producer's
    init_transactions either completed a commit the coordinator had already accepted, or
    aborted the transaction). Prints `KV <what>_error <error>` for every error seen."""
    deadline = time.time() + limit
    while True:
        try:
            holder["p"].commit_transaction(60)
            return "committed"
        except KafkaException as e:
            err = kafka_error(e)
            out(f"KV {what}_error {describe_error(e).replace(' ', '_')}")
            if err is None:
                fail(f"{what}: commit_transaction failed: {describe_error(e)}")
            if err.fatal():
                p = make_producer()
                init_retrying(p, f"{what}: init_transactions of a new producer")
                holder["p"] = p
                return f"fatal:{err.name()}"
            if err.txn_requires_abort():
                abort_retrying(holder["p"], what, deadline)
                return "aborted"
            if err.retriable() and time.time() < deadline:
                time.sleep(0.2)
                continue
            fail(f"{what}: commit_transaction failed: {describe_error(e)}")


def abort_retrying(producer, what, deadline):
    while True:
        try:
            producer.abort_transaction(60)
            return
        except KafkaException as e:
            err = kafka_error(e)
            if err is not None and err.retriable() and time.time() < deadline:
                log(f"{what}: abort_transaction: retrying after {describe_error(e)}")
                time.sleep(0.2)
                continue
            fail(f"{what}: abort_transaction failed: {describe_error(e)}")


def wait_lso(bootstrap, topic, partitions, expected, timeout=30.0, what=""):
    """Waits until ListOffsets read_committed (the last stable offsets) equals `expected`
    ({partition: offset}): Kafka answers EndTxn once the outcome is logged and writes the
    markers after, so a transaction is visible a moment after its commit returns. Fails with
    the last value seen."""
    deadline = time.time() + timeout
    while True:
        lso = list_offsets(bootstrap, topic, partitions, READ_COMMITTED)
        if lso == expected:
            return lso
        if time.time() > deadline:
            fail(f"{what or topic}: last stable offsets {lso}, want {expected} within {timeout} s")
        time.sleep(0.1)


def settle(bootstrap, topic, partitions, timeout=30.0):
    """Waits (at most `timeout` s, without failing) until every partition's last stable offset
    equals its high watermark: no transaction open, every marker written. Returns
    (lso, hw) as last seen."""
    deadline = time.time() + timeout
    while True:
        hw = list_offsets(bootstrap, topic, partitions, READ_UNCOMMITTED)
        lso = list_offsets(bootstrap, topic, partitions, READ_COMMITTED)
        if lso == hw or time.time() > deadline:
            if lso != hw:
                log(f"{topic}: last stable offsets {lso} != high watermarks {hw} after {timeout} s")
            return lso, hw
        time.sleep(0.1)
