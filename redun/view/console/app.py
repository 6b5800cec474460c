"""The console app: screens stacked as the user follows links; `open(target)` pushes one."""

from textual.app import App
from textual.binding import Binding

from ..browse_models import Target
from .screens import ExecutionScreen, ExecutionsScreen, JobScreen
from .screens_more import JumpScreen, LineageScreen, ListScreen, TaskScreen, ValueScreen

CSS = """
.title { background: $primary; color: $text; text-style: bold; padding: 0 1; height: 1; }
.section { text-style: bold; margin-top: 1; }
.hint { color: $text-muted; height: 1; }
.keys { dock: bottom; height: 1; background: $panel; }
#filter-note { color: $warning; height: auto; }
#summary { padding: 0 1; height: auto; border-bottom: solid $primary; }
#job, #value { padding: 0 1; }
#links, #choices { height: auto; max-height: 20; }
#versions { height: auto; padding: 0 1; }
#source-box { height: 1fr; max-height: 50%; border: round $primary; }
#jobs { height: 1fr; }
JumpScreen { align: center middle; }
#jump { width: 90%; height: auto; max-height: 80%; border: thick $primary; background: $surface; padding: 1; }
"""


class ConsoleApp(App):
    """`redun console`: browse one repository's executions, jobs, values, tasks and files."""

    TITLE = "redun console"
    CSS = CSS
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("g", "jump", "Go to id"),
        Binding("1", "home('executions')", "Executions"),
        Binding("2", "home('tasks')", "Tasks"),
        Binding("3", "home('files')", "Files"),
    ]

    def __init__(self, browser, location: str = "", start=None, page_size: int = 100):
        super().__init__()
        self.browser = browser
        self.page_size = page_size  # rows fetched per query by every list and tree
        self.location = location
        self.start = start  # a Target to open over the executions list

    def on_mount(self) -> None:
        self.sub_title = self.location
        self.push_screen(ExecutionsScreen())
        if self.start is not None:
            self.open(self.start)

    def open(self, target: Target) -> None:
        """Push the screen that shows `target`; a record that vanished is reported, not fatal."""
        from ...errors import RedunError

        kinds = {"execution": ExecutionScreen, "job": JobScreen, "value": ValueScreen, "task": TaskScreen,
                 "file": LineageScreen}
        try:
            if target.kind == "task-name":
                key = self.browser.newest_task_hash(target.key)
                self.push_screen(TaskScreen(key))
            else:
                self.push_screen(kinds[target.kind](target.key))
        except RedunError as e:
            self.notify(str(e), severity="error")

    def action_jump(self) -> None:
        self.push_screen(JumpScreen(), lambda target: target is not None and self.open(target))

    def action_home(self, which: str) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()
        if which != "executions":
            self.push_screen(ListScreen(which))
