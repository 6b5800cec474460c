import os

import pytest


@pytest.fixture
def tmp_repo_dir(tmp_path):
    from redun.repo import Repo

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


EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def copy_compile_example(dst) -> str:
    """Copy examples/compile's sources only (not a .redun or build outputs left by running the demo)."""
    import shutil

    src = os.path.join(EXAMPLES, "compile")
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".redun", "*.o", "prog", "prog2", "__pycache__"),
                    dirs_exist_ok=True)
    return str(dst)
