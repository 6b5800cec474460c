"""File on http:// URLs, against a local HTTP server started here; hashes against upstream's."""

import json
import os
import subprocess

import pytest
from conftest import UPSTREAM_PY
from conftest_http import http_server  # noqa: F401

from redun.file import Dir, File, FileSystemError, RedunFileNotFoundError
from redun.hashing import hash_struct

PAGE = "<html><body><p>hello web</p></body></html>\n"


@pytest.fixture(scope="module")
def site(http_server):  # noqa: F811
    base, root = http_server
    (root / "index.html").write_text(PAGE)
    (root / "sub").mkdir()
    (root / "sub" / "t.txt").write_text("a b c\n")
    (root / "big.bin").write_bytes(os.urandom(3 << 20))
    return base, root


def test_http_read_and_hash(site):
    base, root = site
    f = File(f"{base}/index.html")
    assert f.exists() and f.isfile() and not f.isdir()
    assert f.hash == hash_struct(["File", "fsspec", f.path, str(len(PAGE))])
    assert f.size() == len(PAGE)
    assert f.read() == PAGE and f.read("rb") == PAGE.encode()
    with f.open("rb") as stream:
        assert stream.read(6) == b"<html>"
    assert f.basename() == "index.html" and f.dirname() == base
    missing = File(f"{base}/missing.html")
    assert not missing.exists()
    assert missing.hash == hash_struct(["File", "fsspec", missing.path, "-1"])
    with pytest.raises(RedunFileNotFoundError, match="missing.html"):
        missing.read()


def test_http_size_rules(site):
    base, _ = site
    # No Content-Length (chunked): upstream's size is None, and so is the hash's.
    chunked = File(f"{base}/nolength/sub/t.txt")
    assert chunked.hash == hash_struct(["File", "fsspec", chunked.path, "None"])
    assert chunked.read() == "a b c\n"
    # A compressed body's length is not the file's size either.
    gz = File(f"{base}/gzip/sub/t.txt")
    assert gz.hash == hash_struct(["File", "fsspec", gz.path, "None"])


def test_http_copy_to_local_streams(site, tmp_path):
    base, root = site
    dest = File(f"{base}/big.bin").copy_to(File(str(tmp_path / "dl" / "big.bin")))
    assert dest.read("rb") == (root / "big.bin").read_bytes()
    assert dest.is_valid()


def test_http_is_read_only(site):
    base, _ = site
    f = File(f"{base}/index.html")
    for action in (lambda: f.write("x"), f.remove, f.touch, lambda: Dir(f"{base}/sub").mkdir()):
        with pytest.raises(FileSystemError, match="read-only"):
            action()
    with pytest.raises(FileSystemError, match="cannot be listed"):
        Dir(f"{base}/sub").files()


def test_http_change_invalidates(site):
    base, root = site
    (root / "changing.txt").write_text("one")
    f = File(f"{base}/changing.txt")
    assert f.is_valid()
    (root / "changing.txt").write_text("three")
    assert not f.is_valid()


def test_http_unreachable_exists_false():
    assert not File("http://127.0.0.1:9/x").exists()
    with pytest.raises(FileSystemError, match="Cannot reach"):
        File("http://127.0.0.1:9/x").read()


@pytest.mark.upstream
@pytest.mark.slow
def test_http_hashes_match_upstream(site, tmp_path):
    base, _ = site
    urls = [f"{base}/index.html", f"{base}/sub/t.txt", f"{base}/missing", f"{base}/nolength/sub/t.txt",
            f"{base}/gzip/sub/t.txt", f"{base}/big.bin"]
    code = ("import json, sys, redun\nassert 'site-packages' in redun.__file__\nfrom redun.file import File\n"
            "print(json.dumps([File(u).hash for u in json.loads(sys.argv[1])]))")
    p = subprocess.run([UPSTREAM_PY, "-c", code, json.dumps(urls)], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == [File(u).hash for u in urls]
