"""The executions list, one execution's job tree, and one job."""

from textual.binding import Binding
from textual.widgets import Input, Static, Tree

from ...errors import RedunError
from ..browse import parse_filter
from ..browse_models import ExecFilter, Target
from . import render
from .widgets import BaseScreen, FilterBox, Links, PagedTable

FILTER_HELP = "filter: status:failed task:NAME tag:KEY=VALUE (enter applies, empty clears)"


class ExecutionsScreen(BaseScreen):
    """Every execution, newest first, loaded a page at a time."""

    BINDINGS = [Binding("slash", "filter", "Filter")]

    def __init__(self):
        super().__init__("Executions (newest first)")
        self.filter = ExecFilter()

    def compose(self):
        yield self.title_bar()
        yield FilterBox(placeholder=FILTER_HELP, id="filter")
        yield Static("", id="filter-note")
        yield PagedTable(render.EXEC_COLUMNS, render.exec_cells, lambda ex: Target("execution", ex.key), id="table")
        yield self.footer()

    def on_mount(self) -> None:
        self.query_one("#filter").display = False
        self.reload()
        self.query_one("#table").focus()

    def reload(self) -> None:
        browser, flt = self.app.browser, self.filter
        self.query_one("#table", PagedTable).load(lambda cursor: browser.executions(flt, cursor, self.app.page_size))
        note = "" if flt.empty else f"filtered: {self.query_one('#filter', Input).value}"
        self.query_one("#filter-note", Static).update(note)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self.filter = parse_filter(event.value)
        except RedunError as e:
            self.app.notify(str(e), severity="error")
            return
        event.input.display = False
        self.reload()
        self.query_one("#table").focus()


class ExecutionScreen(BaseScreen):
    """One execution: its summary and its job tree, children loaded when a node opens."""

    BINDINGS = [Binding("slash", "filter", "Filter jobs"), Binding("space", "toggle", "Expand", show=True)]

    def __init__(self, eid: bytes):
        super().__init__("Execution")
        self.eid = eid

    def compose(self):
        detail = self.app.browser.execution(self.eid)
        self.counts = detail.counts
        self.title_text = f"Jobs of execution {detail.summary.id[:8]}   (enter opens a job, space expands, / filters)"
        yield self.title_bar()
        yield Static(render.exec_header(detail), id="summary")
        yield FilterBox(placeholder="filter jobs: status:failed task:NAME (enter applies, empty clears)",
                        id="filter")
        tree = Tree("jobs", id="tree")
        tree.show_root = False
        tree.auto_expand = False
        yield tree
        yield PagedTable(render.JOB_COLUMNS, render.job_cells, lambda j: Target("job", j.key), id="found")
        yield self.footer()

    OPEN_ALL = 60  # an execution with at most this many jobs opens fully; larger ones one level

    def on_mount(self) -> None:
        self.query_one("#filter").display = False
        self.query_one("#found").display = False
        tree = self.query_one("#tree", Tree)
        self._add_children(tree.root, None, 0)
        small = sum(self.counts.values()) <= self.OPEN_ALL
        stack = list(tree.root.children[:1])  # the root job
        while stack:
            node = stack.pop()
            node.expand()
            if small:
                if not node.children and node.allow_expand:
                    self._add_children(node, node.data.key, 0)
                stack.extend(c for c in node.children if c.allow_expand)
        tree.cursor_line = 0
        tree.focus()

    def _add_children(self, node, parent_id, offset: int) -> None:
        page = self.app.browser.child_jobs(self.eid, parent_id, offset, self.app.page_size)
        for job in page.rows:
            node.add(render.job_label(job), data=job, allow_expand=job.has_children)
        if page.more:
            node.add_leaf(f"… more (after {page.cursor} jobs: select to load)", data=("more", parent_id, page.cursor))
        node.data_loaded = True

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        node = event.node
        if node.data is not None and not isinstance(node.data, tuple) and not node.children:
            self._add_children(node, node.data.key, 0)

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        data = event.node.data
        if isinstance(data, tuple):  # "… more": the next page of the parent's children
            parent = event.node.parent
            event.node.remove()
            self._add_children(parent, data[1], data[2])
        elif data is not None:
            self.app.open(Target("job", data.key))

    def action_toggle(self) -> None:
        self.query_one("#tree", Tree).action_toggle_node()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            flt = parse_filter(event.value, job=True)
        except RedunError as e:
            self.app.notify(str(e), severity="error")
            return
        event.input.display = False
        tree, found = self.query_one("#tree", Tree), self.query_one("#found", PagedTable)
        if flt.empty:
            found.display, tree.display = False, True
            tree.focus()
            return
        browser = self.app.browser
        found.load(lambda cursor: browser.find_jobs(self.eid, flt, cursor or 0, self.app.page_size))
        found.display, tree.display = True, False
        found.focus()


class JobScreen(BaseScreen):
    """One job: task, arguments, result or error with traceback, why it ran or was cached."""

    BINDINGS = [Binding("p", "parent", "Parent"), Binding("t", "task", "Task"), Binding("x", "execution", "Execution")]

    def __init__(self, jid: bytes):
        super().__init__("Job")
        self.jid = jid

    def compose(self):
        d = self.detail = self.app.browser.job(self.jid)
        self.title_text = f"Job {d.summary.id}  {d.summary.task_name}"
        yield from self.text_with_links(render.job_text(d), "job")

    def on_mount(self) -> None:
        d = self.detail
        links = []
        if d.execution is not None:
            links.append((f"Execution {d.execution.id[:8]} (redun {render.trim(d.execution.args, 50)})",
                          Target("execution", d.execution.key)))
        if d.parent is not None:
            links.append((f"Parent job {d.parent.id[:8]} {render.job_call(d.parent, 60)}", Target("job", d.parent.key)))
        links.append((f"Task {d.summary.task_name} ({d.task_hash[:8]})", Target("task", bytes.fromhex(d.task_hash))))
        if d.result is not None:
            links.append((f"Result: {render.value_line(d.result)}", Target("value", d.result.oid)))
        for a in d.arguments:
            links.append((f"Argument {a.label}: {render.value_line(a.value)}", Target("value", a.value.oid)))
        if d.cache.other is not None:
            links.append((f"Cache reason: Job {d.cache.other.id[:8]} {render.job_call(d.cache.other, 50)}",
                          Target("job", d.cache.other.key)))
        for c in d.children:
            links.append((f"Child job {c.id[:8]} [{c.status}] {render.job_call(c, 60)}", Target("job", c.key)))
        if d.more_children:
            links.append(("… more child jobs: open the execution's tree",
                          Target("execution", d.summary.execution_id)))
        self.query_one("#links", Links).set_links(links)
        self.query_one("#links").focus()

    def action_parent(self) -> None:
        d = self.detail
        if d.parent is not None:
            self.app.open(Target("job", d.parent.key))
        else:
            self.app.notify("This is the root job of its execution.")

    def action_task(self) -> None:
        self.app.open(Target("task", bytes.fromhex(self.detail.task_hash)))

    def action_execution(self) -> None:
        self.app.open(Target("execution", self.detail.summary.execution_id))
