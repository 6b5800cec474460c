"""Running `redun` in this process for tests (RedunClient), with a fresh script module name.

Workflows are imported by module name, and a module imported once stays in sys.modules:
each test writes its workflow under a unique name (`Workflow.write`) so that two tests
never see each other's tasks.
"""

import io
import os
import uuid

from redun.cli import RedunClient


class Result:
    def __init__(self, value, out: str, err: str, code: int):
        self.value, self.out, self.err, self.code = value, out, err, code

    @property
    def lines(self) -> list:
        return self.err.splitlines()


class Workflow:
    """A directory with a workflow script and a repository `.redun` in it."""

    def __init__(self, root, source: str, ini: str = ""):
        self.root = str(root)
        self.name = f"wf_{uuid.uuid4().hex[:12]}"
        self.script = f"{self.name}.py"
        with open(os.path.join(self.root, self.script), "w") as f:
            f.write(source)
        self.config = os.path.join(self.root, ".redun")
        if ini:
            os.makedirs(self.config, exist_ok=True)
            with open(os.path.join(self.config, "redun.ini"), "w") as f:
                f.write(ini)

    def redun(self, *args, expect=0) -> Result:
        """`redun -c <root>/.redun ARGS` in-process, from the workflow's directory."""
        out, err = io.StringIO(), io.StringIO()
        cwd = os.getcwd()
        os.chdir(self.root)
        code, value = 0, None
        try:
            value = RedunClient(stdout=out, stderr=err).execute(["redun", "-c", self.config, *args])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        finally:
            os.chdir(cwd)
        result = Result(value, out.getvalue(), err.getvalue(), code)
        if expect is not None:
            assert code == expect, f"exit {code}\n{result.out}\n{result.err}"
        return result
