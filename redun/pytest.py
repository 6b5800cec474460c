"""pytest support (upstream's redun.pytest): a `scheduler` fixture giving an in-memory
Scheduler, and `Scheduler` for tests that build their own (e.g. to add_executor a local
stand-in for a remote executor). Load it as upstream does: `pytest -p redun.pytest`, or
`pytest_plugins = ["redun.pytest"]` in a conftest. Not an auto-loaded plugin (upstream has
none), so other pytest runs on the machine never import redun."""

import pytest

from redun.scheduler import Scheduler

__all__ = ["Scheduler", "scheduler"]


@pytest.fixture
def scheduler() -> Scheduler:
    """An in-memory Scheduler (records and cache live as long as it does)."""
    return Scheduler()
