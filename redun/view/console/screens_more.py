"""Values, tasks, files and their lineage, the task list, and the jump prompt."""

from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static, Tree

from ..browse_models import LineageNode, Target
from . import render
from .widgets import BaseScreen, FilterBox, Links, PagedTable


class ValueScreen(BaseScreen):
    """One value: preview, type, size; the jobs that made and used it; what holds it."""

    BINDINGS = [Binding("l", "lineage", "Lineage")]

    def __init__(self, oid: bytes):
        super().__init__("Value")
        self.oid = oid

    def compose(self):
        v = self.detail = self.app.browser.value(self.oid)
        self.title_text = f"{'File ' + v.ref.path if v.ref.path is not None else 'Value'}  {v.ref.hash[:8]}"
        yield from self.text_with_links(render.value_text(v), "value")

    def on_mount(self) -> None:
        v = self.detail
        links = []
        if v.ref.path is not None:
            links.append((f"Lineage of {v.ref.path}", Target("file", v.ref.path)))
        links += [(f"Made by Job {j.id[:8]} [{j.status}] {render.job_call(j, 60)}", Target("job", j.key))
                  for j in v.producers]
        links += [(f"Used by Job {j.id[:8]} [{j.status}] {render.job_call(j, 60)}", Target("job", j.key))
                  for j in v.consumers]
        links += [(f"Inside {render.value_line(r)}", Target("value", r.oid)) for r in v.containers]
        links += [(f"Holds {render.value_line(r)}", Target("value", r.oid)) for r in v.contents]
        self.query_one("#links", Links).set_links(links)
        self.query_one("#links").focus()

    def action_lineage(self) -> None:
        if self.detail.ref.path is None:
            self.app.notify("Lineage is shown for file values; this value has no path.")
        else:
            self.app.open(Target("file", self.detail.ref.path))


class TaskScreen(BaseScreen):
    """One task version: source, every version recorded under its name, its newest jobs."""

    def __init__(self, task_hash: bytes):
        super().__init__("Task")
        self.task_hash = task_hash

    def compose(self):
        t = self.detail = self.app.browser.task(self.task_hash)
        self.title_text = f"Task {t.fullname}  {t.hash[:8]}"
        yield self.title_bar()
        head, source = render.task_text(t)
        with Vertical(id="body"):
            yield Static(head, id="versions")
            with VerticalScroll(id="source-box"):
                yield Static(source, id="source")
            yield Static("Jobs of this version (newest first; enter opens)", classes="section")
            yield PagedTable(render.JOB_COLUMNS, render.job_cells, lambda j: Target("job", j.key), id="jobs")
        yield self.footer()

    def on_mount(self) -> None:
        browser, first = self.app.browser, self.detail.jobs
        self.query_one("#jobs", PagedTable).load(
            lambda cursor: first if cursor is None else browser.task_jobs(self.task_hash, cursor, self.app.page_size))
        self.query_one("#jobs").focus()


class LineageScreen(BaseScreen):
    """A file's lineage: the job that made it, that job's arguments, their makers, and so on
    (each step loaded when its node opens)."""

    BINDINGS = [Binding("space", "toggle", "Expand")]
    OPEN_STEPS = 40

    def __init__(self, path: str):
        super().__init__(f"Lineage of {path}")
        self.path = path

    def compose(self):
        root = self.app.browser.lineage_root(self.path)
        yield self.title_bar()
        yield Static("enter opens a step; space or a click on the arrow expands it", classes="hint")
        tree = Tree(render.lineage_label(root), data=root, id="tree")
        tree.auto_expand = False
        yield tree
        yield self.footer()

    def on_mount(self) -> None:
        tree = self.query_one("#tree", Tree)
        # open the chain breadth first, a screenful of steps: the file, its maker, the
        # maker's inputs, their makers...
        queue, opened = [tree.root], 0
        while queue and opened < self.OPEN_STEPS:
            node = queue.pop(0)
            self._load(node)
            if node.children:
                node.expand()
                opened += len(node.children)
                queue.extend(node.children)
        tree.cursor_line = 0
        tree.focus()

    def _load(self, node) -> None:
        if getattr(node, "_loaded", False):
            return
        node._loaded = True
        for child in self.app.browser.lineage_children(node.data):
            node.add(render.lineage_label(child), data=child, allow_expand=True)
        if not node.children:
            node.allow_expand = False

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        self._load(event.node)

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        data: LineageNode = event.node.data
        if data.kind == "job":
            self.app.open(Target("job", data.job.key))
        else:
            self.app.open(Target("value", data.value.oid))

    def action_toggle(self) -> None:
        self.query_one("#tree", Tree).action_toggle_node()


class ListScreen(BaseScreen):
    """Files or task names, by name, paged, with a substring filter."""

    BINDINGS = [Binding("slash", "filter", "Filter")]

    def __init__(self, kind: str):
        super().__init__("Files (recorded paths)" if kind == "files" else "Tasks")
        self.kind = kind
        self.text = None

    def compose(self):
        yield self.title_bar()
        yield FilterBox(placeholder="substring of the " + ("path" if self.kind == "files" else "task name"),
                        id="filter")
        if self.kind == "files":
            table = PagedTable(("Path", "Hash", "Type"), lambda r: (r.path, r.hash[:8], r.type),
                               lambda r: Target("file", r.path), id="table")
        else:
            table = PagedTable(("Task",), lambda name: (name,), lambda name: Target("task-name", name), id="table")
        yield table
        yield self.footer()

    def on_mount(self) -> None:
        self.query_one("#filter").display = False
        self.reload()
        self.query_one("#table").focus()

    def reload(self) -> None:
        browser, text = self.app.browser, self.text
        fetch = browser.files if self.kind == "files" else browser.task_names
        self.query_one("#table", PagedTable).load(lambda cursor: fetch(cursor or "", text, self.app.page_size))

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.text = event.value.strip() or None
        event.input.display = False
        self.reload()
        self.query_one("#table").focus()


class JumpScreen(ModalScreen):
    """The 'go to' prompt: an id or hash prefix, task name, '-', '~N' or file path."""

    BINDINGS = [Binding("escape", "dismiss", "Cancel")]

    def compose(self):
        with Vertical(id="jump"):
            yield Static("Go to: id or hash prefix, task name, '-' (newest execution), '~N', or a file path")
            yield Input(id="jump-input")
            yield Links(id="choices")

    def on_mount(self) -> None:
        self.query_one("#choices").display = False
        self.query_one("#jump-input").focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        from ...errors import RedunError
        from ..browse_models import Choices

        try:
            found = self.app.browser.jump(event.value)
        except RedunError as e:
            self.app.notify(str(e), severity="error")
            return
        if isinstance(found, Choices):
            links = self.query_one("#choices", Links)
            links.set_links(found.options)
            links.display = True
            links.focus()
            return
        self.dismiss(found)

    def on_links_opened(self, event: Links.Opened) -> None:
        self.dismiss(event.target)
