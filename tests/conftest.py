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
