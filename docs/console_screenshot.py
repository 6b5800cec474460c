"""Makes docs/images/console-compile.svg: `redun console` on the compile example.

Runs examples/compile's workflow in a scratch directory, then opens the console
headless (Textual's test driver) on the execution's job tree and saves the screen
as SVG. Needs gcc and the console extra:  python3 docs/console_screenshot.py
"""

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)


def main() -> None:
    from redun.repo.repository import Repo
    from redun.view.browse import Browser
    from redun.view.console.app import ConsoleApp
    from redun.view.query import Provenance

    work = tempfile.mkdtemp(prefix="redun-console-shot-")
    for name in ("make.py", "lib.c", "prog.c", "prog2.c"):
        shutil.copy(os.path.join(ROOT, "examples", "compile", name), work)
    env = dict(os.environ, PYTHONPATH=ROOT)
    subprocess.run([sys.executable, "-m", "redun", "run", "make.py", "make"], cwd=work, env=env, check=True,
                   capture_output=True)
    os.chdir(work)

    async def shoot():
        repo = Repo.open(".redun")
        app = ConsoleApp(Browser(Provenance(repo)), "examples/compile")
        async with app.run_test(size=(110, 30)) as pilot:
            await pilot.pause()
            await pilot.press("enter")  # the execution
            await pilot.pause()
            await pilot.press("down", "down", "down", "down")  # onto link('prog', ...)
            await pilot.pause()
            app.save_screenshot(os.path.join(HERE, "images", "console-compile.svg"))
        repo.close()

    asyncio.run(shoot())
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
