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


@pytest.fixture
def tied(tmp_repo_dir):
    """Two executions whose jobs start at the same instants (ties broken by id across pages)."""
    repo = Repo.open(tmp_repo_dir)
    write_execution(repo.store, repo.refs, n_jobs=6, seed=1, start=T0)
    write_execution(repo.store, repo.refs, n_jobs=6, seed=2, start=T0)
    repo.close()
    return tmp_repo_dir


def _rendered(d, kind):
    """Each row rendered on its own, the way a job tree or a call node block shows it."""
    repo = Repo.open(d)
    prov = query.Provenance(repo)
    lines = []
    r = TextRenderer(prov, lines.append)
    if kind == "job":
        for row in repo.index.select("job", "", (), "start_time DESC, id"):
            r.job_line(row)
    else:
        for row in repo.index.select("call_node", "", (), "timestamp, hash, oid"):
            r.call_node_line(row)
    repo.close()
    return lines


@pytest.mark.parametrize("kind", ["job", "call_node"])
def test_job_and_call_node_listings_page_by_keyset(tied, kind, monkeypatch):
    d = tied
    rows = redun(d, "log", "--job" if kind == "job" else "--call-node").splitlines()
    assert rows == _rendered(d, kind) and len(rows) >= 10
    for page in (1, 2, 3):  # ties in start time fall on page boundaries
        monkeypatch.setattr(listing_queries, "PAGE", page)
        assert redun(d, "log", "--job" if kind == "job" else "--call-node").splitlines() == rows
    repo = Repo.open(d)
    statements = []
    repo.index.conn.set_trace_callback(statements.append)
    pages = getattr(repo.index, f"{kind}_pages")(page=4)
    assert len(next(pages)) == 4
    table = "jobs" if kind == "job" else "call_nodes"
    assert len([s for s in statements if f"FROM {table} WHERE" in s]) == 1
    rest = list(pages)
    assert all("LIMIT 4" in s and "OFFSET" not in s.upper() for s in statements if f"FROM {table} WHERE" in s)
    assert sum(map(len, rest)) + 4 == len(rows)
    repo.close()


def test_job_listing_with_filters_and_tags(tied):
    d = tied
    every = redun(d, "log", "--job").splitlines()
    job = every[3].split()[1]
    full = redun(d, "log", job).splitlines()[0].split()[1]
    redun(d, "tag", "add", full, "stage=two")
    tagged = redun(d, "log", "--job").splitlines()
    assert tagged[3] == every[3] + "(stage=two)" and tagged[:3] == every[:3]
    assert redun(d, "log", "--job", "--tag", "stage=two").splitlines() == [tagged[3]]
    steps = redun(d, "log", "--job", "--task-name", "step").splitlines()
    assert steps == [line for line in tagged if "step(" in line] and steps


def test_order_index_built_for_an_older_index_file(tied):
    """An index file made before jobs_start/call_nodes_time existed gets them on first use."""
    d = tied
    before = redun(d, "log", "--job")
    repo = Repo.open(d)
    repo.index.commit(lambda c: (c.execute("DROP INDEX jobs_start"), c.execute("DROP INDEX call_nodes_time")))
    repo.close()
    assert redun(d, "log", "--job") == before
    redun(d, "log", "--call-node")
    repo = Repo.open(d)
    names = {n for (n,) in repo.index._read("SELECT name FROM sqlite_master WHERE type = 'index'")}
    repo.close()
    assert {"jobs_start", "call_nodes_time"} <= names


def test_filtered_listings_keep_the_listing_order(history):
    """A filter removes lines from a listing and never reorders it (values in index order
    whatever plan sqlite picks for the filter, e.g. --exec-tag's recursive set of values)."""
    from redun.objects.ids import uuid_str

    d, a = history
    redun(d, "tag", "add", uuid_str(a["exec_id"]), "who=me")
    for kind in ("--value", "--job", "--call-node"):
        every = redun(d, "log", kind).splitlines()
        some = redun(d, "log", kind, "--exec-tag", "who=me").splitlines()
        assert some and len(some) < len(every)
        it = iter(every)
        assert all(line in it for line in some), kind  # a subsequence, in the same order
