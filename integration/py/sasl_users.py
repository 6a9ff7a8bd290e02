"""SCRAM users through confluent-kafka's AdminClient (AlterUserScramCredentials and
DescribeUserScramCredentials), over a SASL listener.

--upsert USER:MECHANISM:ITERATIONS:PASSWORD (the client library computes the salt and the
salted password), --delete USER:MECHANISM, --describe (every user), --describe-user USER;
each may be repeated and they run in that order (alterations in one request).

Prints `ALTER <user> OK` or `ALTER <user> ERR <code name>`, `CRED <user> <mechanism>
<iterations>` per described credential (sorted), `DESCRIBE <user> ERR <code name>`, then DONE.
"""

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from sasl_common import conf, out, parser

p = parser(__doc__)
p.add_argument("--upsert", action="append", default=[])
p.add_argument("--delete", action="append", default=[])
p.add_argument("--describe", action="store_true")
p.add_argument("--describe-user", action="append", default=[])
args = p.parse_args()

MECHANISMS = {
    "SCRAM-SHA-256": ScramMechanism.SCRAM_SHA_256,
    "SCRAM-SHA-512": ScramMechanism.SCRAM_SHA_512,
}
NAMES = {v: k for k, v in MECHANISMS.items()}

admin = AdminClient(conf(args))

alterations = []
for spec in args.upsert:
    user, mech, iterations, password = spec.split(":", 3)
    info = ScramCredentialInfo(MECHANISMS[mech], int(iterations))
    alterations.append(UserScramCredentialUpsertion(user, info, password.encode()))
for spec in args.delete:
    user, mech = spec.split(":", 1)
    alterations.append(UserScramCredentialDeletion(user, MECHANISMS[mech]))
if alterations:
    for user, fut in sorted(admin.alter_user_scram_credentials(alterations, request_timeout=20).items()):
        try:
            fut.result(timeout=30)
            out(f"ALTER {user} OK")
        except KafkaException as e:
            out(f"ALTER {user} ERR {e.args[0].name()}")


def show(desc):
    for info in sorted(desc.scram_credential_infos, key=lambda i: NAMES[i.mechanism]):
        out(f"CRED {desc.user} {NAMES[info.mechanism]} {info.iterations}")


if args.describe:
    described = admin.describe_user_scram_credentials(request_timeout=20).result(timeout=30)
    for user in sorted(described):
        show(described[user])
if args.describe_user:
    for user, fut in sorted(admin.describe_user_scram_credentials(args.describe_user, request_timeout=20).items()):
        try:
            show(fut.result(timeout=30))
        except KafkaException as e:
            out(f"DESCRIBE {user} ERR {e.args[0].name()}")
out("DONE")
