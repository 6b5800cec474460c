"""Widgets shared by the console's screens: a paged table, a list of links, a filter box."""

from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Input, OptionList, Static
from textual.widgets.option_list import Option

from ..browse_models import Target

LOAD_AHEAD = 10  # rows from the end of a table at which its next page is fetched


class PagedTable(DataTable):
    """A DataTable filled one page at a time: `load(fetch)` shows the first page of
    `fetch(cursor)` (a Page); the next page is fetched when the cursor comes within
    LOAD_AHEAD rows of the end. Each row's key is the Target it opens."""

    BINDINGS = [Binding("end", "scroll_bottom", "Last row", show=False),
                Binding("home", "scroll_top", "First row", show=False)]

    class Opened(Message):
        def __init__(self, target: Target):
            super().__init__()
            self.target = target

    def __init__(self, columns, cells, target, **kwargs):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._columns = columns
        self._cells = cells  # view object -> tuple of cells
        self._target = target  # view object -> Target
        self._fetch = None
        self._cursor = None
        self._targets: dict = {}
        self.pages = 0

    def on_mount(self) -> None:
        self.add_columns(*self._columns)

    def load(self, fetch) -> None:
        self.clear()
        self._targets = {}
        self._fetch, self._cursor, self.pages = fetch, None, 0
        self._more()

    def _more(self) -> None:
        page = self._fetch(self._cursor)
        self.pages += 1
        self._cursor = page.cursor
        for obj in page.rows:
            key = str(len(self._targets))
            self._targets[key] = self._target(obj)
            self.add_row(*self._cells(obj), key=key)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self._cursor is not None and event.cursor_row >= self.row_count - LOAD_AHEAD:
            self._more()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(self.Opened(self._targets[event.row_key.value]))


class Links(OptionList):
    """Where a screen leads: each option opens a Target."""

    class Opened(Message):
        def __init__(self, target: Target):
            super().__init__()
            self.target = target

    def set_links(self, links: list) -> None:
        self.clear_options()
        self._targets = []
        for label, target in links:
            self._targets.append(target)
            self.add_option(Option(Text(label) if isinstance(label, str) else label))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.Opened(self._targets[event.option_index]))


class FilterBox(Input):
    """The filter line ('/' shows it; enter applies, escape hides it)."""

    BINDINGS = [Binding("escape", "hide", "Close filter", show=False)]

    def action_hide(self) -> None:
        self.display = False
        self.screen.focus_next()


class BaseScreen(Screen):
    """A screen with a title line, its content and the key footer."""

    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, title: str):
        super().__init__()
        self.title_text = title

    def title_bar(self) -> Static:
        return Static(self.title_text, classes="title")

    def text_with_links(self, text, text_id: str):
        """The layout of a detail screen (compose: `yield from`): title, its text, and a
        "Go to" list of links (id "links", filled in on_mount), then the keys."""
        yield self.title_bar()
        with VerticalScroll(id="body"):
            yield Static(text, id=text_id)
            yield Static("Go to", classes="section")
            yield Links(id="links")
        yield self.footer()

    def footer(self) -> Static:
        """The keys of this screen and the app, on one line: one widget (Textual's Footer
        makes a styled widget per key, which costs more than the rest of a screen to lay out)."""
        keys = []
        for binding in [*self.BINDINGS, *BaseScreen.BINDINGS, *self.app.BINDINGS]:
            if isinstance(binding, Binding) and binding.show and binding.description:
                shown = {"slash": "/", "escape": "esc", "space": "space"}.get(binding.key, binding.key)
                if (shown, binding.description) not in keys:
                    keys.append((shown, binding.description))
        line = Text()
        for shown, description in keys:
            line.append(f" {shown} ", style="bold reverse")
            line.append(f" {description}  ")
        return Static(line, classes="keys")

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()

    def on_paged_table_opened(self, event: PagedTable.Opened) -> None:
        self.app.open(event.target)

    def on_links_opened(self, event: Links.Opened) -> None:
        self.app.open(event.target)
