"""Shared by the sasl_*.py scripts (integration/tests/security_sasl_*.rs).

Connection flags: --bootstrap HOST:PORT --protocol PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL
--mechanism PLAIN|SCRAM-SHA-256|SCRAM-SHA-512 --user U --password P --ca CA.pem.

Output conventions (read by the Rust test): one fact per line, `FAIL: <message>` and exit
status 1 for a failed check, `DONE` as the last line of a run that finished.
"""

import argparse
import sys


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--protocol", default="SASL_SSL")
    p.add_argument("--mechanism", default="SCRAM-SHA-256")
    p.add_argument("--user", default="admin")
    p.add_argument("--password", default="admin-secret")
    p.add_argument("--ca")
    return p


def conf(args, **extra):
    """librdkafka / confluent-kafka settings for the connection flags."""
    c = {
        "bootstrap.servers": args.bootstrap,
        "security.protocol": args.protocol,
        # Fail fast: one broker, loopback.
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 500,
    }
    if args.protocol.startswith("SASL"):
        c["sasl.mechanisms"] = args.mechanism
        c["sasl.username"] = args.user
        c["sasl.password"] = args.password
    if args.protocol.endswith("SSL"):
        c["ssl.ca.location"] = args.ca
    c.update(extra)
    return c


def out(line):
    print(line, flush=True)


def fail(message):
    out("FAIL: " + message)
    sys.exit(1)
