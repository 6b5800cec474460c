"""Property: any sequence of pushes/pulls between three repos leaves every repo
fsck-clean, with the union of what was synced and every ref's closure present."""

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest_s3 import closure_ok, make_exec
from redun.objects.fsck import fsck
from redun.repo.repository import Repo
from redun.repo.remotes import open_remote
from redun.sync.transfer import sync

steps = st.lists(
    st.one_of(
        st.tuples(st.just("run"), st.integers(0, 2), st.integers(0, 4)),
        st.tuples(st.just("sync"), st.integers(0, 2), st.integers(0, 2)),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps)
def test_sync_sequences_keep_repos_valid(tmp_path_factory, plan):
    base = tmp_path_factory.mktemp("prop")
    roots = [Repo.init(str(base / f"r{i}")).root for i in range(3)]
    held = [set() for _ in roots]
    for step in plan:
        if step[0] == "run":
            _, i, n = step
            name, _ = make_exec(Repo.open(roots[i]), n)
            held[i].add(name)
        else:
            _, i, j = step
            if i == j:
                continue
            sync(open_remote(roots[i]), open_remote(roots[j]))
            held[j] |= held[i]
    for root, names in zip(roots, held):
        repo = Repo.open(root)
        assert fsck(repo.store, repo.refs).ok
        refs = dict(repo.refs.list("execs/"))
        assert set(refs) == names
        for oid in refs.values():
            assert closure_ok(repo.store, oid)
    # a second pass of every pair has nothing left to move
    for i, j in itertools.permutations(range(3), 2):
        if held[i] <= held[j]:
            assert sync(open_remote(roots[i]), open_remote(roots[j])).up_to_date
