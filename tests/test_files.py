"""File, Dir, FileSet and staging on local disk; the file-system registry; shell copies."""

import os
import pickle

import pytest

from redun.file import (
    ContentFile,
    Dir,
    File,
    FileSet,
    FileSystem,
    FileSystemError,
    IDir,
    IFile,
    LocalFileSystem,
    RedunFileNotFoundError,
    ShardedS3Dataset,
    StagingDir,
    StagingFile,
    copy_file,
    file_from_record,
    get_filesystem,
    get_filesystem_class,
    get_proto,
    list_filesystems,
    register_filesystem,
)
from redun.hashing import hash_struct


def test_proto_and_registry():
    assert get_proto("/a/b") == get_proto("a") == get_proto("") == "local"
    assert get_proto("s3://b/k") == "s3" and get_proto("https://x/y") == "https"
    names = {cls.name for cls in list_filesystems()}
    assert {"local", "s3", "http", "https", "gs", "az", "ftp"} <= names
    assert get_filesystem_class(url="/x") is LocalFileSystem
    assert get_filesystem("s3") is get_filesystem(url="s3://b/k")  # one instance per protocol
    with pytest.raises(FileSystemError, match="No file system for protocol 'nope'"):
        File("nope://x")


def test_register_custom_filesystem(tmp_path):
    @register_filesystem
    class MemFileSystem(LocalFileSystem):
        name = "memtest"

        def get_hash(self, path):
            return hash_struct(["File", "memtest", path])

    f = File("memtest://thing")
    assert isinstance(f.filesystem, MemFileSystem)
    assert f.hash == hash_struct(["File", "memtest", "memtest://thing"])


def test_local_file_api(tmp_path):
    path = str(tmp_path / "sub" / "a.txt")
    f = File(path)
    missing_hash = f.hash
    assert missing_hash == hash_struct(["File", "local", path, -1, "-1"])
    assert not f.exists() and not f.isfile()
    f.write("hello\nworld\n")  # creates the parent directory
    assert f.hash != missing_hash  # write() re-hashes
    st = os.stat(path)
    assert f.hash == hash_struct(["File", "local", path, st.st_size, str(st.st_mtime)])
    assert f.read() == "hello\nworld\n" and f.read("rb") == b"hello\nworld\n"
    assert f.readlines() == ["hello\n", "world\n"]
    assert f.size() == 12 and f.exists() and f.isfile() and not f.isdir()
    assert f.basename() == "a.txt" and f.dirname() == str(tmp_path / "sub")
    with f.open("a", encoding="utf8") as out:
        out.write("more")
    assert f.read(encoding="utf8").endswith("more")
    f.write(b"\x00\x01")
    assert f.read("rb") == b"\x00\x01"
    assert f.is_valid()
    os.utime(path, (1, 1))
    assert not f.is_valid()
    f.update_hash()
    assert f.is_valid()
    f.remove()
    assert not f.exists()
    f.remove()  # removing a missing file is fine
    with pytest.raises(RedunFileNotFoundError, match="a.txt"):
        f.read()
    t = File(str(tmp_path / "t"))
    t.touch()
    assert t.exists() and t.size() == 0
    t.touch((5, 5))
    assert os.stat(t.path).st_mtime == 5


def test_open_close_rehashes_once(tmp_path):
    f = File(str(tmp_path / "x"))
    stream = f.open("w")
    stream.write("abc")
    stream.close()
    h = f.hash
    stream.close()  # a second close is harmless
    assert f.hash == h and f.read() == "abc"


def test_copy_and_stage(tmp_path):
    src = File(str(tmp_path / "src.txt"))
    src.write("data")
    dest = src.copy_to(File(str(tmp_path / "deep" / "dir" / "dest.txt")))
    assert dest.read() == "data" and dest.is_valid()
    src.write("new")
    assert src.copy_to(dest, skip_if_exists=True).read() == "data"

    staged = src.stage()
    assert isinstance(staged, StagingFile)
    assert staged.local.path == "src.txt" and staged.remote is src
    assert src.stage("in/").local.path == "in/src.txt"
    s = src.stage(str(tmp_path / "local.txt"))
    assert s.stage().read() == "new"
    s.local.write("changed")
    assert s.unstage().read() == "changed" and src.read() == "changed"
    assert s.get_hash() == hash_struct(["redun.StagingFile", s.local.path, src.path])
    assert repr(s).startswith("StagingFile(local=File(path=")
    same = src.stage(src.path)
    assert same.stage() is same.local and same.render_stage() == "" and same.render_unstage() == ""


def test_dir(tmp_path):
    root = tmp_path / "d"
    for rel in ("a.txt", "sub/b.txt", "sub/deeper/c.txt"):
        File(str(root / rel)).write(rel)
    d = Dir(str(root) + "/")
    assert d.path == str(root)
    files = d.files()
    assert sorted(d.rel_path(f.path) for f in files) == ["a.txt", "sub/b.txt", "sub/deeper/c.txt"]
    assert d.hash == hash_struct(["Dir", str(root)] + sorted(f.hash for f in files))
    assert d.exists() and d.file("a.txt").read() == "a.txt"
    out = d.copy_to(Dir(str(tmp_path / "copy")))
    assert sorted(out.rel_path(f.path) for f in out) == ["a.txt", "sub/b.txt", "sub/deeper/c.txt"]
    assert d.is_valid()
    File(str(root / "new.txt")).write("n")
    assert not d.is_valid()
    staged = d.stage()
    assert isinstance(staged, StagingDir) and staged.local.path == "d"
    assert staged.render_stage() == f"cp -r {root} d"
    empty = Dir(str(tmp_path / "e"))
    empty.mkdir()
    assert empty.exists() and empty.files() == []
    empty.rmdir()
    assert not empty.exists()


def test_fileset_and_kinds(tmp_path):
    for name in ("x.csv", "y.csv", "z.txt"):
        File(str(tmp_path / name)).write(name)
    fs = FileSet(str(tmp_path / "*.csv"))
    assert sorted(f.basename() for f in fs) == ["x.csv", "y.csv"]
    assert fs.hash == hash_struct(["FileSet", fs.pattern] + sorted(f.hash for f in fs))
    assert repr(fs).startswith("FileSet(pattern=")
    i = IFile(str(tmp_path / "x.csv"))
    assert i.hash == hash_struct(["IFile", i.path]) and i.is_valid()
    assert isinstance(i.stage(), StagingFile) and type(i.stage()).__name__ == "IStagingFile"
    assert IDir(str(tmp_path)).hash == hash_struct(["IDir", str(tmp_path)])
    c = ContentFile(str(tmp_path / "x.csv"))
    from redun.hashing import hash_bytes

    assert c.hash == hash_struct(["ContentFile", c.path, hash_bytes(b"x.csv")])
    assert ContentFile.type_name == "redun.ConentFile"  # upstream's spelling


def test_pickles_are_upstreams(tmp_path):
    f = File("s3://bucket/key.txt")
    f._hash = "0" * 40
    data = pickle.dumps(f, protocol=3)
    assert data.startswith(b"\x80\x03credun.file\nFile\n")
    assert pickle.loads(data).filesystem.name == "s3"
    for cls in (IFile, ContentFile, ShardedS3Dataset, StagingFile):
        assert cls.__module__ == "redun.file"
    ref = file_from_record("redun.FileSet", "/x/*.csv", "1" * 40)
    assert isinstance(ref, FileSet) and ref.pattern == "/x/*.csv" and ref.hash == "1" * 40
    assert type(file_from_record("redun.ConentFile", "/x", "2" * 40)) is ContentFile
    assert file_from_record("redun.Unknown", "/x", "2" * 40) is None


def test_shell_copy_commands():
    # Upstream's exact commands: script() embeds them, so they enter the script's hash.
    assert File("a b").shell_copy_to("c") == "cp 'a b' c"
    assert File("a").shell_copy_to(None) == "cat a"
    assert File("s3://b/k").shell_copy_to("loc") == "aws s3 cp --no-progress s3://b/k loc"
    assert File("loc").shell_copy_to("s3://b/k") == "aws s3 cp --no-progress loc s3://b/k"
    assert Dir("s3://b/d").shell_copy_to("d") == "aws s3 cp --no-progress --recursive s3://b/d d"
    assert File("https://h/x").shell_copy_to("x") == "redun fs cp https://h/x x"
    assert File("s3://b/k").shell_copy_to("https://h/y") == \
        "(aws s3 cp --no-progress s3://b/k -) | (redun fs cp - https://h/y)"
    assert File("gs://b/k").shell_copy_to("loc") == "gsutil cp gs://b/k loc"
    assert File("gs://b/k").shell_copy_to("loc", as_mount=True) == "cp /mnt/disks/b/k loc"
    assert File("loc").shell_copy_to("gs://b/d/k", as_mount=True) == "mkdir -p /mnt/disks/b/d && cp loc /mnt/disks/b/d/k"


def test_optional_filesystems_name_their_package():
    for url, package in (("gs://bucket/x", "gcsfs"), ("az://c@acct.blob.core.windows.net/x", "adlfs")):
        try:
            __import__(package)
            continue
        except ImportError:
            pass
        with pytest.raises(FileSystemError, match=f"pip install .*{package}"):
            File(url).exists()
    with pytest.raises(FileSystemError, match="Expected az://<container>@<account>"):
        File("az://container/x").exists()


def test_copy_file_stdin_stdout(tmp_path, capfdbinary, monkeypatch):
    src = File(str(tmp_path / "in.bin"))
    src.write(b"bytes!")
    copy_file(src.path, None)
    assert capfdbinary.readouterr().out == b"bytes!"
    copy_file(src.path, str(tmp_path / "out.bin"))
    assert File(str(tmp_path / "out.bin")).read("rb") == b"bytes!"
    with pytest.raises(ValueError):
        copy_file(src.path, None, recursive=True)


def test_touch_time_only_on_local():
    class Dummy(FileSystem):
        name = "dummy-touch"
        _open = exists = remove = mkdir = rmdir = get_hash = glob = isfile = isdir = filesize = None

    with pytest.raises(FileSystemError, match="only supported on local"):
        Dummy().touch("dummy-touch://x", (1, 1))


PARITY = '''
import hashlib, json, pickle, sys
from redun.file import ContentFile, Dir, File, FileSet, IFile, ShardedS3Dataset
root = sys.argv[1]
objs = [File(root + "/a.csv"), Dir(root), IFile(root + "/a.csv"), ContentFile(root + "/a.csv"),
        FileSet(root + "/*.csv"), File(root + "/a.csv").stage("x.csv"), Dir(root).stage(),
        ShardedS3Dataset(root, format="csv")]
out = []
for o in objs:
    for part in (o, getattr(o, "local", None), getattr(o, "remote", None)):
        if part is not None and hasattr(part, "hash"):
            part.hash
    out.append([type(o).__name__, o.get_hash(), hashlib.sha1(pickle.dumps(o, protocol=3)).hexdigest()])
print(json.dumps(out))
'''


@pytest.mark.upstream
@pytest.mark.slow
def test_hashes_and_pickles_match_upstream(tmp_path):
    import json
    import subprocess
    import sys

    from conftest import UPSTREAM_PY

    root = tmp_path / "data"
    for rel in ("a.csv", "b.csv", "sub/c.csv"):
        File(str(root / rel)).write(rel)
    (tmp_path / "parity.py").write_text(PARITY)
    results = []
    for python in (sys.executable, UPSTREAM_PY):
        p = subprocess.run([python, "parity.py", str(root)], cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0, p.stderr
        results.append(json.loads(p.stdout))
    assert results[0] == results[1]
