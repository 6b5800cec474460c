"""Where the benchmarks find upstream redun and the harness.

Upstream redun 0.44.1 lives in its own venv: $REDUN_UPSTREAM_VENV, or
~/upstream-redun (`python3 -m venv ~/upstream-redun && ~/upstream-redun/bin/pip
install redun==0.44.1`, as .ci/run does). The harness (harness/run_bench.sh and
its wide.py workflow) is a copy of the project's shared benchmark harness.
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
UPSTREAM_VENV = os.environ.get("REDUN_UPSTREAM_VENV") or os.path.expanduser("~/upstream-redun")
UPSTREAM_REDUN = os.path.join(UPSTREAM_VENV, "bin", "redun")
UPSTREAM_PY = os.path.join(UPSTREAM_VENV, "bin", "python")
HARNESS = os.path.join(HERE, "harness", "run_bench.sh")
WIDE = os.path.join(HERE, "harness", "wide.py")
