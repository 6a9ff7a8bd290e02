"""One confluent-kafka principal tries to list, produce and consume; the Rust test judges
which of these the ACLs allowed.

Steps, in this order:
  --list                 Metadata for all topics: `TOPIC <name>` per topic listed (sorted), or
                         `LERR <code name>`.
  --produce TOPIC        (repeatable) --count records each, key `k<i>`, value `<tag>-<i>`
                         (acks=all, not idempotent): `ACK <topic> <p> <o> <key> <value>` per
                         acknowledged record, `DERR <topic> <key> <code name>` per failed one
                         (failed in its delivery report, or refused by produce() itself);
                         with --idempotent, enable.idempotence=true and `FATAL <code name>`
                         per fatal error (no producer id); with --transactional-id ID, the
                         records are one transaction: `TXN COMMITTED` once it committed, or
                         `TXNERR <code name>` (init, begin or commit refused).
  --consume TOPIC        read partition 0 from the start, with --group by subscribing (then
                         commit synchronously and print `COMMITTED <p> <o>`), else by
                         assigning (group id `acl-assign`, never joined nor committed):
                         `REC <topic> <p> <o> <key> <value>` per record (polling
                         1 s past the --count-th, so extra records show), `CERR <code name>`
                         per distinct error. Stops at the first error, or with --until NAME at
                         the first error of that name, or after --wait seconds.
Then DONE.
"""

import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

from acl_common import conf, out, parser

p = parser(__doc__)
p.add_argument("--list", action="store_true")
p.add_argument("--produce", action="append", default=[])
p.add_argument("--count", type=int, default=1)
p.add_argument("--tag", default="v")
p.add_argument("--idempotent", action="store_true")
p.add_argument("--transactional-id")
p.add_argument("--consume")
p.add_argument("--group")
p.add_argument("--until")
p.add_argument("--wait", type=float, default=15.0)
args = p.parse_args()


def text(b):
    return b.decode() if b is not None else "-"


if args.list or args.produce:
    fatal = []

    def on_error(err):
        if err.fatal() and err.name() not in fatal:
            fatal.append(err.name())

    settings = {"acks": "all", "message.timeout.ms": 15000, "error_cb": on_error}
    if args.idempotent:
        settings["enable.idempotence"] = True
    if args.transactional_id:
        settings["transactional.id"] = args.transactional_id
    producer = Producer(conf(args, **settings))
    produce_to = args.produce
    if args.transactional_id:
        try:
            producer.init_transactions(15)
            producer.begin_transaction()
        except KafkaException as e:
            out(f"TXNERR {e.args[0].name()}")
            produce_to = []
    if args.list:
        try:
            md = producer.list_topics(timeout=10)
            for name in sorted(md.topics):
                out(f"TOPIC {name}")
        except KafkaException as e:
            out(f"LERR {e.args[0].name()}")
    results = []
    refused = []
    for topic in produce_to:
        for i in range(args.count):
            try:
                producer.produce(
                    topic,
                    key=f"k{i}".encode(),
                    value=f"{args.tag}-{i}".encode(),
                    on_delivery=lambda err, msg: results.append((err, msg)),
                )
            except KafkaException as e:
                # librdkafka refuses at once a record for a topic it already knows is denied.
                refused.append(f"DERR {topic} k{i} {e.args[0].name()}")
    try:
        remaining = producer.flush(args.wait)
    except Exception as e:  # noqa: BLE001
        # A fatal error (an idempotent producer refused a producer id) ends the producer.
        # confluent-kafka raises it from flush(), sometimes as the cause of a SystemError
        # (it calls the next delivery callback with the exception still set).
        cause = e
        while cause is not None and not isinstance(cause, KafkaException):
            cause = cause.__cause__ or cause.__context__
        if cause is None:
            raise
        on_error(cause.args[0])
        remaining = len(producer)
    for err, msg in results:
        if err is None:
            out(
                f"ACK {msg.topic()} {msg.partition()} {msg.offset()} {text(msg.key())} "
                f"{text(msg.value())}"
            )
        else:
            out(f"DERR {msg.topic()} {text(msg.key())} {err.name()}")
    for line in refused:
        out(line)
    if args.transactional_id and produce_to:
        try:
            producer.commit_transaction(15)
            out("TXN COMMITTED")
        except KafkaException as e:
            out(f"TXNERR {e.args[0].name()}")
    for name in fatal:
        out(f"FATAL {name}")
    if remaining:
        out(f"UNDELIVERED {remaining}")

if args.consume:
    settings = {
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
    }
    # confluent-kafka needs a group id even to assign; the group is only joined with --group.
    settings["group.id"] = args.group or "acl-assign"
    consumer = Consumer(conf(args, **settings))
    if args.group:
        consumer.subscribe([args.consume])
    else:
        consumer.assign([TopicPartition(args.consume, 0, OFFSET_BEGINNING)])
    got, errors = 0, []
    deadline = time.time() + args.wait
    stop_at = None
    while time.time() < (stop_at or deadline):
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            name = msg.error().name()
            if name not in errors:
                errors.append(name)
                out(f"CERR {name}")
            if args.until is None or name == args.until:
                break
            continue
        out(
            f"REC {msg.topic()} {msg.partition()} {msg.offset()} {text(msg.key())} "
            f"{text(msg.value())}"
        )
        got += 1
        if got >= args.count and stop_at is None:
            stop_at = time.time() + 1.0
    if args.group and got >= args.count and not errors:
        consumer.commit(asynchronous=False)
        for tp in consumer.committed([TopicPartition(args.consume, 0)], timeout=10):
            out(f"COMMITTED {tp.partition} {tp.offset}")
    consumer.close()

out("DONE")
