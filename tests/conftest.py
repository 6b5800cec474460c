import os

import pytest


@pytest.fixture
def tmp_repo_dir(tmp_path):
    from redun.repo.repository import Repo

    root = tmp_path / ".redun"
    Repo.init(str(root))
    return str(root)


def pytest_collection_modifyitems(config, items):
    if os.environ.get("REDUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: set REDUN_SLOW=1 to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def _find_upstream_venv() -> str:
    """Upstream redun 0.44.1 in its own venv: $REDUN_UPSTREAM_VENV, ~/upstream-redun or /work/upstream-venv."""
    for cand in (os.environ.get("REDUN_UPSTREAM_VENV"), os.path.expanduser("~/upstream-redun"), "/work/upstream-venv"):
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
