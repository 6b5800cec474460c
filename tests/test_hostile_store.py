"""Issue 12, store layers: decompression bombs, packs that are not files, idx overflow,
FIFOs in refs/. Every command runs as a real process under a memory cap (tests/memcap.py)."""

import os

import pytest

from conftest_s3 import make_exec
from hostile import bomb, fake_oid, install_pack
from memcap import assert_bounded, redun_capped
from redun.objects.ids import new_uuid, uuid_str
from redun.repo.repository import Repo

GiB = 1 << 30


def _repo_with_exec(path):
    repo = Repo.init(str(path))
    name, oids = make_exec(repo, 3)
    return repo, name


@pytest.mark.slow
def test_zstd_bombs_in_a_pack_log_fsck(tmp_path):
    """Three 32 KB objects that claim 1 GiB each, one of them named by a ref: `log` and `fsck`
    stay small (the report: 5.2 GB for log, 2.1 GB for fsck)."""
    repo, name = _repo_with_exec(tmp_path / "r")
    bombs = [fake_oid(i) for i in range(3)]
    install_pack(repo.root, [(o, bomb(GiB - 64)) for o in bombs])
    repo.refs.set(f"execs/{uuid_str(new_uuid())}", bombs[0])
    log = redun_capped(repo.root, "log")
    assert log.returncode == 0, log
    assert f"Exec {name.split('/')[1][:8]}" in log.stdout
    assert_bounded(log)
    fsck = redun_capped(repo.root, "fsck")
    assert fsck.returncode == 1, fsck
    assert all(o.hex() in fsck.stdout for o in bombs), fsck
    assert_bounded(fsck)


@pytest.mark.slow
def test_zstd_bomb_pulled_from_a_directory_remote(tmp_path):
    src, _ = _repo_with_exec(tmp_path / "src")
    b = fake_oid(7)
    install_pack(src.root, [(b, bomb(GiB - 64))])
    src.refs.set(f"execs/{uuid_str(new_uuid())}", b)
    dst = Repo.init(str(tmp_path / "dst"))
    assert redun_capped(dst.root, "repo", "add", "src", src.root).returncode == 0
    res = redun_capped(dst.root, "pull", "src")
    assert_bounded(res)
    assert res.returncode == 1 and b.hex() in res.stderr, res
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_pack_that_is_a_symlink_to_dev_zero(tmp_path):
    """A pack file that never ends: commands neither hang nor grow."""
    repo, name = _repo_with_exec(tmp_path / "r")
    evil = install_pack(repo.root, [(fake_oid(1), b"\x00hello")])
    pack = os.path.join(repo.root, "packs", f"pack-{evil}.pack")
    os.unlink(pack)
    os.symlink("/dev/zero", pack)
    for args, rc in ((["log"], 0), (["fsck"], 1), (["db", "reindex"], 0)):
        res = redun_capped(repo.root, *args, timeout=60)
        assert_bounded(res)
        assert res.returncode == rc, (args, res)
        assert "Traceback" not in res.stderr, res
    assert "not a file" in redun_capped(repo.root, "fsck").stdout


@pytest.mark.slow
def test_index_building_streams_big_packs(tmp_path):
    """Index catch-up reads a pack entry by entry: 64 MiB of blobs add far less than 64 MiB."""
    small = Repo.init(str(tmp_path / "small"))
    make_exec(small, 2, big=1 << 20)
    repo = Repo.init(str(tmp_path / "r"))
    make_exec(repo, 2, big=64 << 20)
    base = redun_capped(small.root, "log")
    res = redun_capped(repo.root, "log")
    assert res.returncode == 0, res
    assert res.peak_mb < base.peak_mb + 32, (base, res)  # reading the whole pack costs 64 MiB


@pytest.mark.parametrize("size", [GiB + 1, 1 << 40, (1 << 64) - 1])
def test_frames_beyond_the_global_limit_are_refused_before_inflating(size):
    import struct

    from redun.errors import CorruptObjectError
    from redun.objects import compress

    lying = bytearray(bomb(1 << 20))
    lying[6:14] = struct.pack("<Q", size)  # the frame header's content size
    with pytest.raises(CorruptObjectError):
        compress.decompress(bytes(lying))


def test_frames_far_beyond_their_stored_size_are_refused():
    from redun.errors import CorruptObjectError
    from redun.objects import compress

    with pytest.raises(CorruptObjectError, match="ratio"):
        compress.decompress(bomb(256 << 20))
    assert compress.decompress(bomb(1 << 20)) == bytes(1 << 20)  # small objects: any ratio


def test_highly_compressible_big_objects_are_written_within_the_ratio():
    """The writer keeps the rule the reader enforces: a 40 MiB run of zeros is stored raw."""
    from redun.objects import compress

    data = bytes(40 << 20)
    stored = compress.compress(data)
    assert compress.decompress(stored) == data
    small = bytes(1 << 20)
    assert len(compress.compress(small)) < 1000


@pytest.mark.slow
@pytest.mark.parametrize("field", ["offset 2**63", "offset 2**64-1", "size 2**32-1", "offset past end"])
def test_idx_with_impossible_offsets_and_sizes(tmp_path, field):
    """Item 5: fsck crashed with OverflowError on offsets >= 2**63 and passed the idx's size
    field straight to os.pread (a 4 GiB buffer). Every command names the damage instead."""
    from hostile import rewrite_idx
    from redun.objects import codec
    from redun.objects.records import Blob

    repo, name = _repo_with_exec(tmp_path / "r")
    entries = [(fake_oid(i), b"\x00" + codec.encode(Blob(b"x%d" % i))) for i in range(3)]
    pack = install_pack(repo.root, entries)
    idx = os.path.join(repo.root, "packs", f"pack-{pack}.idx")
    change = {"offset 2**63": dict(offsets={1: 1 << 63}), "offset 2**64-1": dict(offsets={1: (1 << 64) - 1}),
              "size 2**32-1": dict(sizes={1: (1 << 32) - 1}), "offset past end": dict(offsets={1: 1 << 40})}[field]
    rewrite_idx(idx, **change)
    for args, rc in ((["fsck"], 1), (["log"], 0), (["gc"], None), (["db", "reindex"], 0)):
        res = redun_capped(repo.root, *args)
        assert_bounded(res)
        assert "Traceback" not in res.stderr, (args, res)
        if rc is not None:
            assert res.returncode == rc, (args, res)
    res = redun_capped(repo.root, "fsck")
    assert "outside" in res.stdout, res


@pytest.mark.slow
@pytest.mark.parametrize("where", ["loose ref", "packed refs"])
def test_fifo_in_refs_never_hangs(tmp_path, where):
    """Item 9: a FIFO in refs/ hung pull, fsck and log forever (blocking open)."""
    repo, name = _repo_with_exec(tmp_path / "r")
    if where == "loose ref":
        fifo = os.path.join(repo.root, "refs", "execs", str(new_uuid_text()))
    else:
        repo.refs.pack_refs()
        fifo = os.path.join(repo.root, "refs", ".packed")
        os.unlink(fifo)
    os.mkfifo(fifo)
    fsck = redun_capped(repo.root, "fsck", timeout=30)
    assert fsck.returncode == 1 and "FIFO" in fsck.stdout, fsck
    log = redun_capped(repo.root, "log", timeout=30)
    assert log.returncode in (0, 1) and "Traceback" not in log.stderr, log
    assert "FIFO" in log.stderr or log.returncode == 0, log
    dst = Repo.init(str(tmp_path / "dst"))
    assert redun_capped(dst.root, "repo", "add", "src", repo.root).returncode == 0
    pull = redun_capped(dst.root, "pull", "src", timeout=30)
    assert pull.returncode == 1 and "FIFO" in pull.stderr and "Traceback" not in pull.stderr, pull


def new_uuid_text():
    return uuid_str(new_uuid())
