#!/usr/bin/env bash
# Rebuilds the seed corpora fuzz/corpus/<target>/ from the golden files and fixtures in the
# repository (WAL segments, snapshot files, and a few hand-made requests, frames and commands).
# Run from anywhere: bash fuzz/seed.sh. Needs python3 (only to regenerate; the seeds are
# committed). The layouts are those the targets read: see fuzz/src/lib.rs and fuzz_targets/.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf fuzz/corpus
python3 - <<'PY'
import glob, os, struct, zlib

out = "fuzz/corpus"
def put(target, name, data):
    d = os.path.join(out, target); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), "wb").write(data)

wal_dirs = sorted(set(os.path.dirname(p) for p in
    glob.glob("wal/tests/golden/*.wal") + glob.glob("tools/tests/fixtures/*/wal/*.wal")
    + glob.glob("tests/fixtures/*/data/wal/*.wal")))
def seg_chunk(kind, b): return bytes([kind]) + struct.pack("<I", len(b)) + b
def snap_chunk(path):
    b = open(path, "rb").read()
    term, index = (int(x, 16) for x in os.path.basename(path)[:-5].split("-"))
    return bytes([2]) + struct.pack("<QQI", index, term, len(b)) + b
def trailer(seg):
    """(footer_offset, footer message) of a sealed segment, else None."""
    if len(seg) < 96 or seg[-32:-28] != b"SEND": return None
    off, flen = struct.unpack_from("<QQ", seg, len(seg) - 24)
    if off + flen > len(seg) or flen < 32: return None
    count = struct.unpack_from("<I", seg, off + 16)[0]
    return off, seg[off + 32: off + 32 + count]

for n, d in enumerate(wal_dirs):
    tag = d.replace("/", "_")
    segs = [open(p, "rb").read() for p in sorted(glob.glob(d + "/*.wal"))]
    snaps = sorted(glob.glob(os.path.join(os.path.dirname(d), "snap", "*.snap")))
    plain = b"".join(seg_chunk(0, s) for s in segs[:8])
    fixed = b"".join(seg_chunk(1, s) for s in segs[:8])
    put("wal_dir", tag, plain)
    put("wal_dir", tag + ".fixed", fixed)
    with_snaps = b"".join(seg_chunk(1, s) for s in segs[:6]) + b"".join(snap_chunk(p) for p in snaps[:2])
    put("wal_dump", tag, b"\x00" + with_snaps)
    put("wal_dump", tag + ".json", b"\x01" + plain)
    for i, s in enumerate(segs[:8]):
        put("batch", f"{tag}.{i}", b"\x01" + s)
        pos = 64
        while pos + 32 <= len(s) and s[pos:pos + 4] in (b"SBAT",):
            first, count, blen = struct.unpack_from("<QII", s, pos + 8)
            body = s[pos + 32: pos + 32 + blen]
            if len(body) == blen:
                put("batch", f"{tag}.{i}.{pos}", b"\x00" + struct.pack("<QI", first, count) + body)
            pos += 32 + blen
        t = trailer(s)
        if t:
            off, footer = t
            prefix = s[:off]
            put("seal", f"{tag}.{i}", struct.pack("<I", len(prefix)) + prefix
                + struct.pack("<I", len(footer)) + footer)
            # The same, as a sealed chunk of a directory.
            put("wal_dir", f"{tag}.{i}.sealed", bytes([3]) + struct.pack("<I", len(prefix)) + prefix
                + struct.pack("<I", len(footer)) + footer)

for p in sorted(glob.glob("snap/tests/golden/*.snap") + glob.glob("tools/tests/fixtures/*/snap/*.snap")
                + glob.glob("tests/fixtures/*/data/snap/*.snap")):
    b = open(p, "rb").read()
    term, index = (int(x, 16) for x in os.path.basename(p)[:-5].split("-"))
    tag = p.replace("/", "_")
    put("snap_load", tag, b"\x01" + struct.pack("<QQ", index, term) + b)
    put("snap_load", tag + ".mmap", b"\x03" + struct.pack("<QQ", index, term) + b)
    meta_len = struct.unpack_from("<I", b, 16)[0]
    data = b[24 + meta_len: len(b) - 16]
    if data[:8] in (b"STELEKVM", b"STELEKV1"):
        put("kv_snapshot", tag, data)

# Hand-made state-machine snapshots: a member table then MemKv pairs, and a bare MemKv.
def memkv(pairs, applied=5, writes=2, chain=99):
    b = b"STELEKV1" + struct.pack("<QQQQ", applied, writes, chain, len(pairs))
    for k, v in pairs: b += struct.pack("<I", len(k)) + k + struct.pack("<I", len(v)) + v
    return b
members = b"STELEKVM" + struct.pack("<I", 2)
for i, a in ((1, b"127.0.0.1:12379"), (2, b"[::1]:7000")):
    members += struct.pack("<QI", i, len(a)) + a
put("kv_snapshot", "machine", members + memkv([(b"a", b"1"), (b"key", b"value")]))
put("kv_snapshot", "memkv", memkv([(b"k", b"v" * 20)]))

put("kv_command", "put", b"\x01" + struct.pack("<I", 3) + b"key" + b"value")
put("kv_command", "delete", b"\x02" + struct.pack("<I", 3) + b"key")
put("kv_command", "result", b"\x01value")

for name, req in {
    "get": b"GET /kv/greeting HTTP/1.1\r\nHost: x\r\n\r\n",
    "put": b"PUT /kv/greeting HTTP/1.1\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello",
    "stale": b"GET /kv/a%20b?stale=true&x=%41 HTTP/1.0\r\n\r\n",
    "expect": b"PUT /kv/k HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
    "pipelined": b"DELETE /kv/k HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET /status HTTP/1.1\r\n\r\n",
}.items():
    put("http_parse", name, req)

# Raft frames: eraftpb.Message protobuf, hand-encoded.
def varint(n):
    b = b""
    while True:
        c = n & 0x7f; n >>= 7
        if n: b += bytes([c | 0x80])
        else: return b + bytes([c])
def field(num, wire, payload):
    key = varint(num << 3 | wire)
    return key + (varint(payload) if wire == 0 else varint(len(payload)) + payload)
entry = field(2, 0, 3) + field(3, 0, 7) + field(4, 2, b"payload")  # term, index, data
append = (field(1, 0, 3) + field(2, 0, 2) + field(3, 0, 1) + field(4, 0, 3) + field(5, 0, 3)
          + field(6, 0, 6) + field(7, 2, entry) + field(8, 0, 6))
heartbeat = field(1, 0, 8) + field(2, 0, 2) + field(3, 0, 1) + field(4, 0, 3)
meta = field(1, 2, field(1, 0, 1)) + field(2, 0, 10) + field(3, 0, 2)
snapshot = field(1, 0, 7) + field(2, 0, 2) + field(3, 0, 1) + field(9, 2, field(1, 2, b"snapdata") + field(2, 2, meta))
frames = b"".join(struct.pack(">I", len(m)) + m for m in (append, heartbeat, snapshot))
put("raft_frame", "frames", b"STELERF1" + frames)
put("raft_frame", "one", b"STELERF1" + struct.pack(">I", len(heartbeat)) + heartbeat)
PY
du -sh fuzz/corpus; for d in fuzz/corpus/*; do echo "$(basename "$d"): $(ls "$d" | wc -l) files"; done
