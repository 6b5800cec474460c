"""Fuzz targets for issue 12: one per decoder of data that may come from elsewhere.

Each target feeds `n` inputs (seeded: every failure is reproducible) to one
decoder and accepts only our own error tree (RedunError) as a refusal; any other
exception, or a result that breaks a stated invariant, is a bug and stops the
run with the input in hex. Inputs are mutations of valid encodings (bit flips,
byte overwrites, truncation, splices, random lengths) plus pure noise.

tests/test_fuzz.py runs each target in a child process under a memory cap
(tests/memcap.py) and asserts its peak RSS. Run one by hand:
    python tests/fuzz_targets.py NAME SEED N
"""

import base64
import io
import json
import os
import pickle
import random
import struct
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def mutate(rnd: random.Random, data: bytes) -> bytes:
    """One to four random edits of data (never the same bytes back, when possible)."""
    b = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.random()
        if not b or op < 0.05:
            b = bytearray(rnd.randbytes(rnd.randint(0, 64)))
        elif op < 0.35:  # bit flip
            i = rnd.randrange(len(b))
            b[i] ^= 1 << rnd.randrange(8)
        elif op < 0.55:  # byte overwrite, often with an extreme value
            i = rnd.randrange(len(b))
            b[i] = rnd.choice((0, 0xFF, 0x7F, 0x80, rnd.randrange(256)))
        elif op < 0.65:  # a 4- or 8-byte extreme integer somewhere (lengths, offsets)
            i = rnd.randrange(len(b))
            width = rnd.choice((4, 8))
            val = rnd.choice((0, 1, 2**31 - 1, 2**32 - 1, 2**63, 2**64 - 1, rnd.getrandbits(width * 8)))
            b[i : i + width] = val.to_bytes(8, "little")[:width]
        elif op < 0.75:  # truncate
            del b[rnd.randrange(len(b) + 1):]
        elif op < 0.85:  # duplicate a slice
            i, j = sorted((rnd.randrange(len(b) + 1), rnd.randrange(len(b) + 1)))
            b[j:j] = b[i:j]
        elif op < 0.95:  # delete a slice
            i, j = sorted((rnd.randrange(len(b) + 1), rnd.randrange(len(b) + 1)))
            del b[i:j]
        else:  # insert noise
            i = rnd.randrange(len(b) + 1)
            b[i:i] = rnd.randbytes(rnd.randint(1, 16))
    return bytes(b)


def inputs(rnd: random.Random, seeds: list, n: int):
    for k in range(n):
        if k % 10 == 9:
            yield rnd.randbytes(rnd.randint(0, 200))
        else:
            yield mutate(rnd, rnd.choice(seeds))


def _records():
    """A few valid records of every type, encoded."""
    sys.path.insert(0, HERE)
    from redun.objects import codec
    from redun.objects.ids import new_uuid
    from redun.objects.records import Arg, Blob, CallNode, Execution, Job, Tag, Task, Value
    from redun.objects.valuecodec import encode_native

    o = [bytes([i]) * 32 for i in range(1, 6)]
    recs = [
        Task(b"\x01" * 20, "ns", "name", "def f(): pass"),
        Value(b"\x02" * 20, "builtins.dict", "native", encode_native({"a": [1, (2, 3)], "b": {4}})),
        Value(b"\x03" * 20, "builtins.str", "native", b"", (o[0], o[1]), 2 << 20),
        Blob(b"chunk" * 30),
        CallNode(b"\x04" * 20, b"\x01" * 20, o[0], "ns.name", b"\x05" * 20,
                 (Arg(0, None, b"\x06" * 20, o[1], ()), Arg(None, "k", b"\x07" * 20, o[2], (b"\x08" * 20,))),
                 b"\x09" * 20, o[3], (o[4],), 12345),
        Job(new_uuid(), new_uuid(), None, b"\x01" * 20, o[0], b"\x04" * 20, o[1], b"\x0a" * 20, o[2], 1, 2,
            False, "DONE", (o[3],), {}),
        Execution(new_uuid(), '["redun", "run"]', o[0], 1, 2, {"k": '"v"'}),
    ]
    try:
        recs.append(Tag(b"\x0b" * 20, "Job", "abc", "key", '"value"', ()))
    except TypeError:
        pass
    return [codec.encode(r) for r in recs]


# -- targets ---------------------------------------------------------------------

def target_objects(rnd, n):
    """Stored object bytes -> decompress -> strict decode (what every read does)."""
    from redun.errors import RedunError
    from redun.objects import codec, compress

    seeds = [compress.compress(d) for d in _records()] + _records()
    for data in inputs(rnd, seeds, n):
        yield data
        try:
            canonical = compress.decompress(data, "fuzz")
            codec.decode(canonical, strict=True)
        except RedunError:
            pass
        try:
            codec.decode(data)
            codec.links_of_encoded(data)
        except RedunError:
            pass


def _pack_seed():
    from redun.objects import compress
    from redun.objects.ids import object_id

    entries = [(object_id(d), compress.compress(d)) for d in _records()]
    sys.path.insert(0, os.path.join(HERE))
    from hostile import pack_bytes

    return pack_bytes(entries)


def target_packs(rnd, n):
    """Pack files: the sequential scan (recover, salvage), entries by index (reads) and the
    streamed catch-up reader (index building), on mutated pack bytes."""
    from redun.errors import RedunError
    from redun.index.packread import pack_entries
    from redun.objects.pack import PACK_MAGIC, PackIndex, read_entry, scan_entries

    name, body, idx = _pack_seed()
    index = PackIndex(idx, "fuzz.idx")
    d = tempfile.mkdtemp()
    path = os.path.join(d, "pack-fuzz.pack")
    for data in inputs(rnd, [body], n):
        yield data
        try:
            for _ in scan_entries(data, "fuzz"):
                pass
        except RedunError:
            pass
        for oid, off, size in index.entries():
            try:
                read_entry(data, off, size, oid, "fuzz")
            except RedunError:
                pass
        with open(path, "wb") as f:
            f.write(data)
        with open(path, "rb") as f:
            if f.read(len(PACK_MAGIC)) == PACK_MAGIC:
                for trusted in (False, True):
                    f.seek(len(PACK_MAGIC))
                    for _ in pack_entries(f, len(PACK_MAGIC), len(data), path, trusted, live=False):
                        pass


def target_idx(rnd, n):
    """Pack indexes: open, checksum, lookups, prefix search, iteration (every reader's path)."""
    from redun.errors import RedunError
    from redun.objects.pack import PackIndex

    name, body, idx = _pack_seed()
    probe = [bytes(32), b"\xff" * 32] + [idx[12 + 1024 + 32 * i : 12 + 1024 + 32 * (i + 1)] for i in range(3)]
    for data in inputs(rnd, [idx], n):
        yield data
        try:
            index = PackIndex(data, "fuzz")
        except RedunError:
            continue
        try:
            index.verify_checksum()
        except RedunError:
            pass
        for oid in probe:
            try:
                hit = index.find(oid)
                assert hit is None or (type(hit[0]) is int and type(hit[1]) is int)
            except RedunError:
                pass
        for prefix in ("", "0", "ab", "ff0"):
            try:
                index.with_prefix(prefix, 5)
            except RedunError:
                pass
        try:
            for _ in index.entries():
                pass
        except RedunError:
            pass


def target_packed_refs(rnd, n):
    from redun.errors import RedunError
    from redun.refs.packed import decode_packed, encode_packed

    seeds = [encode_packed({f"execs/{i:08x}-0000-4000-8000-000000000000": bytes([i]) * 32 for i in range(4)}),
             encode_packed({"remotes/a/execs/x": b"\x01" * 32, "a.b_c-d": b"\x02" * 32})]
    for data in inputs(rnd, seeds, n):
        yield data
        try:
            refs = decode_packed(data, "fuzz")
            assert all(type(v) is bytes and len(v) == 32 for v in refs.values())
        except RedunError:
            pass


def target_head(rnd, n):
    """S3 HEAD documents."""
    from redun.errors import RedunError
    from redun.sync.s3remote import decode_head, encode_head

    seeds = [encode_head({"execs/" + "ab" * 4: b"\x01" * 32}, ["0" * 40, "f" * 40]),
             json.dumps({"format": "redun-repo 1.0", "version": 1, "packs": [], "refs": {}}).encode()]
    for data in inputs(rnd, seeds, n):
        yield data
        try:
            refs, packs, fmt = decode_head(data, "fuzz/HEAD")
            assert all(type(v) is bytes and len(v) == 32 for v in refs.values())
            assert all(type(p) is str and len(p) == 40 for p in packs)
        except RedunError:
            pass


def _upstream_lines():
    path = os.path.join(HERE, "data", "upstream-export-compile.jsonl")
    with open(path, "rb") as f:
        return [line for line in f.read().splitlines() if line.strip()]


def target_import_lines(rnd, n):
    """Upstream export lines, one by one (the import's parser and validator)."""
    from redun.errors import RedunError
    from redun.exchange.lines import parse_line

    seeds = _upstream_lines()
    for data in inputs(rnd, seeds, n):
        yield data
        try:
            parse_line(data)
        except RedunError:
            pass


def target_import_files(rnd, n):
    """Whole import files with a few lines damaged, imported with and without --keep-going
    into fresh repositories (the builder, the conversions, the pack writing)."""
    import shutil

    from redun.errors import RedunError
    from redun.exchange import import_lines
    from redun.repo.repository import Repo

    seeds = _upstream_lines()
    base = tempfile.mkdtemp()
    for k in range(n):
        lines = list(seeds)
        for _ in range(rnd.randint(1, 3)):
            i = rnd.randrange(len(lines))
            lines[i] = mutate(rnd, lines[i])
        rnd.shuffle(lines)
        yield b"\n".join(lines)[:2000]
        root = os.path.join(base, f"r{k % 2}")
        shutil.rmtree(root, ignore_errors=True)
        repo = Repo.init(root)
        try:
            import_lines(repo, [ln + b"\n" for ln in lines], keep_going=bool(k % 2), progress=None)
        except RedunError:
            pass
        finally:
            repo.close()


def _pickle_seeds():
    vals = [None, 1, -2**70, 2.5, "héllo", b"by", [1, [2, [3]]], (1, 2, 3), {"a": {1, 2}}, frozenset({"x"}),
            {"k": [None, True, (1.5, b"z")]}, [[1]] * 3]
    out = [pickle.dumps(v, protocol=p) for v in vals for p in (2, 3, 4)]
    for line in _upstream_lines():
        obj = json.loads(line)
        if obj.get("_type") == "Value" and obj.get("data"):
            out.append(base64.b64decode(obj["data"]))  # upstream's own pickles (files, tasks)
    return out


def target_unpickler(rnd, n):
    """The restricted unpickler (objects/plainpickle.py + pickleread.py), and previews."""
    from redun.errors import DecodeError
    from redun.objects.plainpickle import safe_unpickle
    from redun.objects.valuecodec import native_from_pickle, preview

    seeds = _pickle_seeds()
    for data in inputs(rnd, seeds, n):
        yield data
        try:
            safe_unpickle(data)
        except DecodeError:
            pass
        assert len(preview("builtins.object", "pickle", data)) <= 200
        native_from_pickle(data)


def target_fsck(rnd, n):
    """fsck end to end on a small repository with one file damaged per round (pack, idx,
    loose object, ref, packed refs): it must report, never crash."""
    import shutil

    from redun.errors import RedunError
    from redun.maint.reach import judge_reachable
    from redun.objects.fsck import fsck
    from redun.repo.repository import Repo

    sys.path.insert(0, HERE)
    from conftest_s3 import make_exec

    base = tempfile.mkdtemp()
    orig = os.path.join(base, "orig")
    repo = Repo.init(orig)
    make_exec(repo, 2, seed=1)
    make_exec(repo, 1, seed=2)
    repo.store.put_bytes(_records()[1])
    repo.refs.pack_refs()
    make_exec(repo, 1, seed=3)
    repo.close()
    files = []
    for d, _, names in os.walk(orig):
        for name in names:
            if not name.endswith((".ini", "ORIGIN")):
                files.append(os.path.relpath(os.path.join(d, name), orig))
    files.sort()
    for k in range(n):
        work = os.path.join(base, f"w{k % 2}")
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(orig, work)
        victim = os.path.join(work, rnd.choice(files))
        with open(victim, "rb") as f:
            data = f.read()
        data = mutate(rnd, data)
        with open(victim, "wb") as f:
            f.write(data)
        yield os.path.relpath(victim, work).encode() + b": " + data[:64]
        try:
            r = Repo.open(work)
            report = fsck(r.store, r.refs)
            judge_reachable(r.store, r.refs, report)
            r.close()
        except RedunError:
            pass


TARGETS = {
    "objects": target_objects,
    "packs": target_packs,
    "idx": target_idx,
    "packed_refs": target_packed_refs,
    "head": target_head,
    "import_lines": target_import_lines,
    "import_files": target_import_files,
    "unpickler": target_unpickler,
    "fsck": target_fsck,
}


def run(name: str, seed: int, n: int) -> None:
    rnd = random.Random(seed)
    last = b""
    try:
        for last in TARGETS[name](rnd, n):
            pass
    except BaseException as e:
        sys.stderr.write(f"fuzz {name} seed {seed}: {type(e).__name__}: {e}\ninput: {bytes(last).hex()}\n")
        raise
    print(f"fuzz {name}: {n} inputs ok")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(HERE))
    run(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
