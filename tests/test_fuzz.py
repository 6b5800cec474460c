"""Issue 12: a fuzz target per decoder of data that may come from elsewhere, each in its
own process under a memory cap, with its peak RSS asserted (tests/fuzz_targets.py).

The default budget keeps each target to a few seconds; REDUN_FUZZ_SCALE=K runs K
times more inputs (REDUN_FUZZ_SCALE=1000 is the long run), REDUN_FUZZ_SEED picks
another seed. A failure prints the seed and the failing input in hex.
"""

import os
import sys

import pytest

pytestmark = pytest.mark.slow  # each target runs in its own process

from memcap import assert_bounded, run_capped

HERE = os.path.dirname(os.path.abspath(__file__))
SCALE = float(os.environ.get("REDUN_FUZZ_SCALE", "1"))
SEED = int(os.environ.get("REDUN_FUZZ_SEED", "12"))

# inputs per target at scale 1 (about a second or two each on an idle core)
BUDGET = {
    "objects": 10000,
    "packs": 600,
    "idx": 5000,
    "packed_refs": 10000,
    "head": 8000,
    "import_lines": 6000,
    "import_files": 20,
    "unpickler": 5000,
    "fsck": 25,
}


@pytest.mark.parametrize("name", sorted(BUDGET))
def test_fuzz_target(name):
    n = max(1, int(BUDGET[name] * SCALE))
    res = run_capped([sys.executable, os.path.join(HERE, "fuzz_targets.py"), name, str(SEED), str(n)],
                     timeout=max(120, 0.2 * n))
    assert res.returncode == 0, res
    assert f"fuzz {name}: {n} inputs ok" in res.stdout, res
    assert_bounded(res)
