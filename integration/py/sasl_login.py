"""One confluent-kafka client tries to log in and fetch metadata within --wait seconds.

Prints `LOGIN OK` and `TOPIC <name>` per topic, or `LOGIN FAIL`; `ERR <code name> <text>` for
every distinct error the client reported (error callback, failed metadata requests). With
--topic and --value a client that logged in produces one record (acks=all) and prints
`ACK <p> <o>`. Ends with DONE either way: the Rust test judges the outcome.
"""

import time

from confluent_kafka import KafkaException, Producer

from sasl_common import conf, fail, out, parser

p = parser(__doc__)
p.add_argument("--wait", type=float, default=5.0)
p.add_argument("--topic")
p.add_argument("--value")
args = p.parse_args()

errors = []


def note(err):
    key = (err.name(), err.str())
    if key not in errors:
        errors.append(key)


producer = Producer(conf(args, error_cb=note, acks="all"))
md = None
deadline = time.time() + args.wait
while time.time() < deadline:
    try:
        md = producer.list_topics(timeout=1.0)
        break
    except KafkaException as e:
        note(e.args[0])
    producer.poll(0.1)
    if any(code == "_AUTHENTICATION" for code, _ in errors):
        break
producer.poll(0.1)

if md is not None:
    out("LOGIN OK")
    for name in sorted(md.topics):
        out(f"TOPIC {name}")
    if args.topic:
        acks = []
        producer.produce(
            args.topic,
            value=args.value.encode(),
            on_delivery=lambda err, msg: acks.append((err, msg)),
        )
        producer.flush(20)
        if len(acks) != 1 or acks[0][0] is not None:
            fail(f"producing as {args.user}: {acks}")
        out(f"ACK {acks[0][1].partition()} {acks[0][1].offset()}")
else:
    out("LOGIN FAIL")
for name, text in errors:
    out(f"ERR {name} {text}")
out("DONE")
