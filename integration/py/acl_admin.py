"""ACL and user administration through confluent-kafka's AdminClient, as one principal.

Steps, run in this order (each flag may be repeated; the ACL ones go in one request each):
  --upsert USER:MECHANISM:ITERATIONS:PASSWORD  AlterUserScramCredentials (upsertion)
  --topic NAME                                 CreateTopics (1 partition)
  --create "<binding>"                         CreateAcls
  --delete "<filter>"                          DeleteAcls
  --describe "<filter>"                        DescribeAcls (one request per filter)
(bindings and filters as acl_common.py describes them).

Prints `USER <user> OK|ERR <code name>`, `TOPIC <name> OK|ERR <code name>`,
`CREATE <i> OK|ERR <code name>`, `DELETE <i> MATCH <binding>` per binding the i-th filter
deleted (in the broker's order) or `DELETE <i> ERR <code name>`, `DESCRIBE <i> ACL <binding>`
per binding (sorted) or `DESCRIBE <i> ERR <code name>`, then DONE. Indexes count from 0.
"""

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AdminClient,
    NewTopic,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from acl_common import conf, out, parser

p = parser(__doc__)
p.add_argument("--upsert", action="append", default=[])
p.add_argument("--topic", action="append", default=[])
p.add_argument("--create", action="append", default=[])
p.add_argument("--delete", action="append", default=[])
p.add_argument("--describe", action="append", default=[])
args = p.parse_args()

TIMEOUT = 20
MECHANISMS = {
    "SCRAM-SHA-256": ScramMechanism.SCRAM_SHA_256,
    "SCRAM-SHA-512": ScramMechanism.SCRAM_SHA_512,
}


def code(e):
    return e.args[0].name() if isinstance(e, KafkaException) else f"{type(e).__name__}:{e}"


def fields(spec):
    f = spec.split()
    if len(f) != 7:
        raise SystemExit(f"FAIL: an ACL needs 7 fields: {spec!r}")
    return f


def binding(spec):
    t, name, pattern, principal, host, op, perm = fields(spec)
    return AclBinding(t, name, pattern, principal, host, op, perm)


def acl_filter(spec):
    t, name, pattern, principal, host, op, perm = fields(spec)
    none = lambda v: None if v == "-" else v  # noqa: E731
    return AclBindingFilter(t, none(name), pattern, none(principal), none(host), op, perm)


def show(b):
    return (
        f"{b.restype.name} {b.name} {b.resource_pattern_type.name} {b.principal} {b.host} "
        f"{b.operation.name} {b.permission_type.name}"
    )


admin = AdminClient(conf(args))

if args.upsert:
    alterations = []
    for spec in args.upsert:
        user, mech, iterations, password = spec.split(":", 3)
        info = ScramCredentialInfo(MECHANISMS[mech], int(iterations))
        alterations.append(UserScramCredentialUpsertion(user, info, password.encode()))
    futs = admin.alter_user_scram_credentials(alterations, request_timeout=TIMEOUT)
    for user, fut in sorted(futs.items()):
        try:
            fut.result(timeout=30)
            out(f"USER {user} OK")
        except Exception as e:  # noqa: BLE001 (reported to the test)
            out(f"USER {user} ERR {code(e)}")

if args.topic:
    futs = admin.create_topics([NewTopic(t, 1, 1) for t in args.topic], request_timeout=TIMEOUT)
    for t in args.topic:
        try:
            futs[t].result(timeout=30)
            out(f"TOPIC {t} OK")
        except Exception as e:  # noqa: BLE001
            out(f"TOPIC {t} ERR {code(e)}")

if args.create:
    bindings = [binding(s) for s in args.create]
    futs = admin.create_acls(bindings, request_timeout=TIMEOUT)
    for i, b in enumerate(bindings):
        try:
            futs[b].result(timeout=30)
            out(f"CREATE {i} OK")
        except Exception as e:  # noqa: BLE001
            out(f"CREATE {i} ERR {code(e)}")

if args.delete:
    filters = [acl_filter(s) for s in args.delete]
    futs = admin.delete_acls(filters, request_timeout=TIMEOUT)
    for i, f in enumerate(filters):
        try:
            for b in futs[f].result(timeout=30):
                out(f"DELETE {i} MATCH {show(b)}")
        except Exception as e:  # noqa: BLE001
            out(f"DELETE {i} ERR {code(e)}")

for i, spec in enumerate(args.describe):
    try:
        found = admin.describe_acls(acl_filter(spec), request_timeout=TIMEOUT).result(timeout=30)
        for line in sorted(show(b) for b in found):
            out(f"DESCRIBE {i} ACL {line}")
    except Exception as e:  # noqa: BLE001
        out(f"DESCRIBE {i} ERR {code(e)}")

out("DONE")
