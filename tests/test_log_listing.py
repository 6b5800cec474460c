"""`redun log --value/--file` listings: keyset pages from the index, typed lines, bounded memory
(redun/index/listing_queries.py, redun/view/listing.py)."""

import pytest
from click.testing import CliRunner

from redun.cli.group import cli
from redun.index import listing_queries
from redun.repo.repository import Repo
from redun.view import query
from redun.view.render_text import TextRenderer, short

from test_index_synth import T0, write_execution


def redun(repo_dir, *args):
    res = CliRunner().invoke(cli, ["-c", repo_dir, *args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


@pytest.fixture
def history(tmp_repo_dir):
    repo = Repo.open(tmp_repo_dir)
    a = write_execution(repo.store, repo.refs, n_jobs=6, seed=1, start=T0, file_paths=("out.txt", "b.txt"))
    write_execution(repo.store, repo.refs, n_jobs=5, seed=2, start=T0 + 10**7)
    repo.close()
    return tmp_repo_dir, a


def _all_vals(index):
    return index._read("SELECT oid, hash, type FROM vals ORDER BY rowid")


def test_value_pages_are_keyset_pages_read_lazily(history):
    d, _ = history
    repo = Repo.open(d)
    index = repo.index
    every = _all_vals(index)
    statements = []
    index.conn.set_trace_callback(statements.append)
    pages = index.value_pages(page=4)
    first = next(pages)
    assert len(first) == 4
    listed = [s for s in statements if "FROM vals" in s]
    assert len(listed) == 1  # one page read, not the listing
    rest = [p for p in pages]
    index.conn.set_trace_callback(None)
    assert all(len(p) <= 4 for p in rest) and len(rest) >= 3
    rows = first + [r for p in rest for r in p]
    assert [(r["oid"], r["hash"], r["type"]) for r in rows] == every
    listed = [s for s in statements if "FROM vals" in s]
    assert all("LIMIT 4" in s and "OFFSET" not in s.upper() for s in listed)
    assert all(r["pack"] is not None for r in rows)  # the pack each value came from: hinted reads
    # the listing's small page cache is given back when it ends
    assert index.conn.execute("PRAGMA cache_size").fetchone()[0] == -65536
    repo.close()


def test_value_listing_lines_as_each_row_renders_them(history, monkeypatch):
    """The paged listing prints what rendering each row on its own does (preview, tags)."""
    d, _ = history
    repo = Repo.open(d)
    every = _all_vals(repo.index)
    repo.close()
    tagged = every[2][1].hex()
    redun(d, "tag", "add", tagged, "env=prod", "n=3")
    out = redun(d, "log", "--value").splitlines()

    repo = Repo.open(d)
    prov = query.Provenance(repo)
    lines = []
    r = TextRenderer(prov, lines.append)
    expected = [f"Value {short(h)} {t} {prov.preview(o)} {r.tags(h.hex())}" for o, h, t in every]
    repo.close()
    assert out == expected
    assert "(env=prod, n=3)" in out[2]

    monkeypatch.setattr(listing_queries, "PAGE", 2)  # page boundaries change nothing
    assert redun(d, "log", "--value").splitlines() == out
    assert redun(d, "log", "--value", "--value-type", "builtins.int").splitlines() == [
        line for line in out if " builtins.int " in line]


def test_file_listing_pages(history, monkeypatch):
    d, _ = history
    out = redun(d, "log", "--file").splitlines()
    assert [line.split()[2] for line in out] == ["b.txt", "out.txt"]
    assert all(line.startswith("File ") and line.endswith(" ") for line in out)
    monkeypatch.setattr(listing_queries, "PAGE", 1)
    assert redun(d, "log", "--file").splitlines() == out


def test_listing_saves_previews_each_page_up_to_the_cap(history, monkeypatch):
    """Previews computed by a listing go to the index's cache page by page (nothing kept
    for the end of the command), at most SAVED_PREVIEWS of them per command."""
    d, _ = history
    monkeypatch.setattr(listing_queries, "PAGE", 3)
    monkeypatch.setattr(query, "SAVED_PREVIEWS", 5)
    pending = []
    end_page = query.Provenance.end_page

    def watching(self):
        pending.append(len(self._new_previews))
        end_page(self)

    monkeypatch.setattr(query.Provenance, "end_page", watching)
    out = redun(d, "log", "--value")
    assert max(pending) <= 3
    repo = Repo.open(d)
    cached = repo.index._read("SELECT COUNT(*) FROM vals WHERE preview IS NOT NULL")[0][0]
    repo.close()
    assert cached == 5
    assert redun(d, "log", "--value") == out  # cached or computed, the same text


def test_hinted_reads_and_released_pages(history):
    """Reads with the index's pack hint (right, wrong or unknown) find the object, and after
    the store releases its mapped pages, reads still work."""
    d, _ = history
    repo = Repo.open(d)
    rows = [r for page in repo.index.value_pages() for r in page]
    store = repo.store
    other = next(n for n in store.pack_names() if n != rows[0]["pack"]) if len(store.pack_names()) > 1 else None
    for r in rows:
        want = store.get(r["oid"])
        assert store.get_from(r["oid"], r["pack"]) == want
        assert store.get_from(r["oid"], other) == want
        assert store.get_from(r["oid"], "0" * 40) == want
    store.release_pages()
    assert [store.get(r["oid"]) for r in rows] == [store.get_from(r["oid"], r["pack"]) for r in rows]
    repo.close()
