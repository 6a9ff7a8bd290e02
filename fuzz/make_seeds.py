#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets into fuzz/seeds/<target>/ from the golden files
in migrations/golden/v1 (so every target starts from valid files, not from nothing).
Run from the repository root: python3 fuzz/make_seeds.py"""
import os, struct

G = "migrations/golden/v1"
OUT = "fuzz/seeds"


def rd(p):
    with open(os.path.join(G, p), "rb") as f:
        return f.read()


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# meta_journal: mode 0 = raw image; mode 2 = payloads framed by the harness.
journal = rd("meta/metadata.log")
put("meta_journal", "golden", b"\x00" + journal)
payloads, pos = [], 10
while pos + 8 <= len(journal):
    n = struct.unpack(">I", journal[pos:pos + 4])[0]
    payloads.append(journal[pos + 8:pos + 8 + n])
    pos += 8 + n
put("meta_journal", "framed", b"\x02" + b"\x00".join(payloads))
put("meta_journal", "damaged", b"\x02" + b"\x00".join([payloads[0], b"\x01garbage"] + payloads[1:]))


# group_records: one key of each kind, offset values v1 and v3, a group value v3.
def s16(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


put("group_records", "offset_key", struct.pack(">h", 1) + s16("g") + s16("t") + struct.pack(">i", 3))
put("group_records", "group_key", struct.pack(">h", 2) + s16("g"))
put("group_records", "offset_v3", struct.pack(">hqi", 3, 42, 7) + s16("meta") + struct.pack(">q", 1700000000000))
put("group_records", "offset_v1", struct.pack(">hq", 1, 42) + s16("m") + struct.pack(">qq", 1, 2))
member = (s16("m1") + s16("i1") + s16("c") + s16("/127.0.0.1") + struct.pack(">ii", 300000, 10000)
          + struct.pack(">i", 2) + b"\x01\x02" + struct.pack(">i", 1) + b"\x03")
put("group_records", "group_v3", struct.pack(">h", 3) + s16("consumer") + struct.pack(">i", 5) + s16("range")
    + s16("m1") + struct.pack(">q", 12) + struct.pack(">i", 1) + member)

# tier_manifest / tier_catalog: the golden JSON files.
put("tier_manifest", "manifest", rd("tier/manifest.json"))
put("tier_manifest", "manifest_with_producers", rd("tier/manifest_with_producers.json"))
put("tier_catalog", "catalog_entry", rd("tier/catalog_entry.json"))

# broker_checkpoints: the data dir's offset checkpoint files, as they are.
put("broker_checkpoints", "recovery_points", rd("broker/recovery-point-offset-checkpoint"))
put("broker_checkpoints", "high_watermarks", rd("broker/replication-offset-checkpoint"))

# log_index: mode, base, log size, max_relative, lookup count + keys, file.
log0 = rd("partition/00000000000000000000.log")
for mode, ext in ((0, "index"), (1, "timeindex")):
    keys = [0, 3, 5, 1 << 40] if mode == 0 else [0, 1700000000000, 1 << 62]
    head = bytes([mode]) + struct.pack(">qQQ", 0, len(log0), 100) + bytes([len(keys)])
    head += b"".join(struct.pack(">q", k) for k in keys)
    put("log_index", ext, head + rd("partition/00000000000000000000." + ext))

# log_checkpoints: 0 leader epochs (+2 queries), 1 log start, 2 partition.metadata, 3 producer state.
q = struct.pack(">iq", 0, 100) + struct.pack(">iq", 5, 100)
put("log_checkpoints", "leader_epoch", b"\x00\x02" + q + rd("partition/leader-epoch-checkpoint"))
put("log_checkpoints", "log_start", b"\x01" + rd("partition/log-start-offset-checkpoint"))
put("log_checkpoints", "partition_metadata", b"\x02" + rd("partition/partition.metadata"))
import json
ps = rd("partition/producer-state.json")
end = json.loads(ps)["end_offset"]
put("log_checkpoints", "producer_state", b"\x03" + struct.pack(">q", end) + b"\x01" + log0[:61] + ps)

# cold_read: offset, max bytes, upper bound, base offset, index entries, index, object.
idx = rd("partition/00000000000000000000.index")
for name, off in (("start", 0), ("middle", 3)):
    head = struct.pack(">qHqqB", off, 4096, 1 << 40, 0, len(idx) // 8)
    put("cold_read", name, head + idx + log0)
put("cold_read", "segment8", struct.pack(">qHqqB", 9, 200, 1 << 40, 8, 0) + rd("partition/00000000000000000008.log"))
