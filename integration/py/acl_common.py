"""Shared by the acl_*.py scripts (integration/tests/security_acl_*.rs).

Connection flags are those of sasl_common.py (--bootstrap, --protocol, --mechanism, --user,
--password, --ca) plus --cert and --key, a client certificate and its key (PEM) for TLS
listeners that require one (ssl.client.auth=required). On a SASL_SSL listener the principal is
still the SASL user; on an SSL listener it is the certificate's subject.

ACL bindings and filters are written as seven whitespace-separated fields, in Kafka's order:
`RESOURCE_TYPE NAME PATTERN_TYPE PRINCIPAL HOST OPERATION PERMISSION`, e.g.
`TOPIC orders- PREFIXED User:alice * WRITE ALLOW`. In a filter, `-` stands for "any" in NAME,
PRINCIPAL and HOST, and `ANY` (or `MATCH` for PATTERN_TYPE) in the enum fields.

Output conventions: one fact per line, `FAIL: <message>` and exit status 1 for a failed check,
`DONE` as the last line of a run that finished (the Rust test judges denials, which are not
failures of the script).
"""

import sasl_common
from sasl_common import out

__all__ = ["conf", "out", "parser"]


def parser(description):
    p = sasl_common.parser(description)
    p.add_argument("--cert", help="client certificate (PEM)")
    p.add_argument("--key", help="its private key (PEM)")
    return p


def conf(args, **extra):
    """librdkafka / confluent-kafka settings for the connection flags."""
    c = sasl_common.conf(args)
    if args.cert:
        c["ssl.certificate.location"] = args.cert
        c["ssl.key.location"] = args.key
    c.update(extra)
    return c
