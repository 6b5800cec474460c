"""The fast loop guards itself: with `-m "not slow"`, a test that starts a subprocess fails
and says to mark it slow; marked, or in a full run, it passes. S3 tests are marked by fixture."""

import os

import pytest

pytest_plugins = ["pytester"]

CONFTEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conftest.py")
TESTS = '''
import subprocess
import sys

import pytest


def test_unmarked_spawns():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


@pytest.mark.slow
def test_marked_spawns():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_in_process():
    assert sum(range(10)) == 45


@pytest.fixture
def seaweed():
    return "http://127.0.0.1:1"


def test_uses_the_s3_server(seaweed):
    assert seaweed
'''


@pytest.mark.slow  # the inner runs start subprocesses in this process
def test_fast_loop_refuses_unmarked_subprocesses(pytester):
    with open(CONFTEST) as f:
        pytester.makeconftest(f.read())
    pytester.makepyfile(test_inner=TESTS)
    fast = pytester.runpytest_inprocess("-m", "not slow and not s3", "-p", "no:cacheprovider")
    fast.assert_outcomes(passed=2, errors=1, deselected=2)  # the unmarked one errors at teardown
    assert "mark it @pytest.mark.slow" in fast.stdout.str()
    full = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    full.assert_outcomes(passed=4)
    only_s3 = pytester.runpytest_inprocess("-m", "s3", "-p", "no:cacheprovider")
    only_s3.assert_outcomes(passed=1, deselected=3)
