#!/usr/bin/env bash
# Makes tests/data/upstream-migration.tar.gz with upstream redun 0.44.1 (its own venv; default
# ~/upstream-redun): the compile example run twice with an edit of lib.c in between, in a
# sqlite .redun/redun.db. The archive holds the whole working directory (sources, objects,
# programs, .redun/redun.db; expected/mtimes.json holds their exact mtimes: local File hashes
# depend on them) plus
# upstream's `redun log` outputs on that history under expected/, which the migration test
# compares with ours (tests/test_import_upstream.py).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
upstream="${REDUN_UPSTREAM_VENV:-$HOME/upstream-redun}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/compile"
cp "$here/../../examples/compile/"{make.py,lib.c,prog.c,prog2.c} "$work/compile/"
cd "$work/compile"
export PATH="$upstream/bin:$PATH" REDUN_CONFIG=""
redun init >/dev/null
redun run make.py make >/dev/null 2>&1
sed -i 's/Hello, World!/Hello, World!!!!!!!!/' lib.c
redun run make.py make >/dev/null 2>&1
mkdir expected
redun log > expected/log.txt
redun log --exec > expected/log-exec.txt
redun log --job > expected/log-job.txt
redun log --task > expected/log-task.txt
redun log --call-node > expected/log-call-node.txt
redun log --value > expected/log-value.txt
redun log --file > expected/log-file.txt
redun log - > expected/log-newest.txt
redun log '~1' > expected/log-previous.txt
# exact mtimes (ns) of the working files: local File hashes depend on them, and tar keeps
# whole seconds only, so the test sets them again from this file
python3 - <<'PY'
import json, os
print(json.dumps({n: os.stat(n).st_mtime_ns for n in sorted(os.listdir(".")) if os.path.isfile(n)}, indent=1),
      file=open("expected/mtimes.json", "w"))
PY
cd "$work"
tar --format=posix --sort=name --owner=0 --group=0 --numeric-owner -czf "$here/upstream-migration.tar.gz" compile
echo "wrote $here/upstream-migration.tar.gz ($(stat -c %s "$here/upstream-migration.tar.gz") bytes)"
