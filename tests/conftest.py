import os

import pytest

# The suite starts hundreds of `redun` and Python processes; with PYTHONDONTWRITEBYTECODE set
# (some shells and sandboxes set it) each of them compiles every module it imports again,
# about 0.35 s for the engine's. Unset for the processes the tests start, they compile once.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

# The session's servers, started once: a session fixture imported into a test module is that
# module's own fixture, so each module that imported them started another SeaweedFS and
# PostgreSQL (eleven of each), all kept until the session's end and stopped there one by one.
from conftest_pg import pg_server  # noqa: E402,F401
from conftest_s3 import seaweed  # noqa: E402,F401


@pytest.fixture
def tmp_repo_dir(tmp_path):
    from redun.repo.repository import Repo

    root = tmp_path / ".redun"
    Repo.init(str(root))
    return str(root)


def pytest_collection_modifyitems(config, items):
    """Every test runs by default; markers only select (see pyproject.toml). A test
    that uses the real S3 server (the `seaweed` fixture, directly or as a
    parameter) is marked `s3` here, so no S3 test can be left out of `-m "not s3"`;
    a `dask` test (it starts a cluster) is marked `slow`, and so is a `postgres` one (a
    test using the `pg_server` fixture is marked `postgres`)."""
    for item in items:
        params = getattr(item, "callspec", None)
        if "seaweed" in item.fixturenames or (params is not None and "seaweed" in params.params.values()):
            item.add_marker(pytest.mark.s3)
        if item.get_closest_marker("dask") is not None:
            item.add_marker(pytest.mark.slow)
        if "pg_server" in item.fixturenames:  # a PostgreSQL server (tests/conftest_pg.py)
            item.add_marker(pytest.mark.postgres)
        if item.get_closest_marker("postgres") is not None:
            item.add_marker(pytest.mark.slow)


def _fast_loop(config) -> bool:
    return "not slow" in (config.getoption("markexpr", "") or "")


@pytest.fixture(autouse=True)
def _subprocesses_only_in_slow_tests(request):
    """In the fast loop (`-m "not slow ..."`), a test that starts a subprocess fails
    and says to mark it slow, so that the loop stays fast as tests are added."""
    if not _fast_loop(request.config) or request.node.get_closest_marker("slow"):
        yield
        return
    import subprocess

    started = []
    real_init = subprocess.Popen.__init__

    def watched_init(self, args, *a, **kw):
        started.append(args)
        real_init(self, args, *a, **kw)

    subprocess.Popen.__init__ = watched_init
    try:
        yield
    finally:
        subprocess.Popen.__init__ = real_init
    if started:
        pytest.fail(f"this test starts a subprocess ({str(started[0])[:100]}): mark it @pytest.mark.slow "
                    "(tests/conftest.py; the fast loop `-m \"not slow and not s3\"` runs no subprocess)")


def _find_upstream_venv() -> str:
    """Upstream redun 0.44.1 in its own venv: $REDUN_UPSTREAM_VENV or ~/upstream-redun (.ci/run makes it)."""
    for cand in (os.environ.get("REDUN_UPSTREAM_VENV"), os.path.expanduser("~/upstream-redun")):
        if cand and os.path.exists(os.path.join(cand, "bin", "redun")):
            return cand
    return os.path.expanduser("~/upstream-redun")


UPSTREAM_VENV = _find_upstream_venv()
UPSTREAM_PY = os.path.join(UPSTREAM_VENV, "bin", "python")
UPSTREAM_REDUN = os.path.join(UPSTREAM_VENV, "bin", "redun")


EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def copy_compile_example(dst) -> str:
    """Copy examples/compile's sources only (not a .redun or build outputs left by running the demo)."""
    import shutil

    src = os.path.join(EXAMPLES, "compile")
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".redun", "*.o", "prog", "prog2", "__pycache__"),
                    dirs_exist_ok=True)
    return str(dst)
