"""Typed view objects for browsing history (what `redun console` shows).

Built by redun/view/browse.py from index queries; plain data, never lazy, so a
renderer that formats them cannot reach back into the repository. Times are
integer microseconds since the epoch (UTC); ids keep their raw bytes (`key`)
for the next query and their text for display.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .failure import ERROR_VALUE_TYPE, Failure


@dataclass(frozen=True)
class ValueRef:
    """One stored value as a line shows it."""

    oid: bytes
    hash: str  # upstream value hash, hex
    type: str
    preview: str
    path: Optional[str] = None  # recorded path of a file value
    size: int = 0
    format: str = ""

    @property
    def is_error(self) -> bool:
        return self.type == ERROR_VALUE_TYPE


@dataclass(frozen=True)
class JobSummary:
    key: bytes  # job uuid bytes
    id: str
    execution_id: bytes
    parent_id: Optional[bytes]
    task_name: str
    status: str  # DONE / CACHED / FAILED / RUN
    start: int
    end: Optional[int]
    has_children: bool
    args: str  # 'a, b, k=v' previews

    @property
    def duration(self) -> Optional[int]:
        return None if self.end is None else self.end - self.start


@dataclass(frozen=True)
class ExecSummary:
    key: bytes
    id: str
    status: str  # RUN / DONE / FAILED
    start: int
    end: Optional[int]
    task_name: str
    args: str  # the command line after `redun`
    tags: Dict[str, str]  # key -> value text (JSON strings shown bare)

    @property
    def duration(self) -> Optional[int]:
        return None if self.end is None else self.end - self.start


@dataclass(frozen=True)
class Page:
    """One page of rows; `cursor` continues after the last one (None: no more rows)."""

    rows: list
    cursor: object = None

    @property
    def more(self) -> bool:
        return self.cursor is not None


@dataclass(frozen=True)
class ExecFilter:
    status: Optional[str] = None  # RUN / DONE / FAILED
    task: Optional[str] = None  # substring of the root task's name
    tag: Optional[Tuple[str, Optional[str]]] = None  # (key, value text or None)

    @property
    def empty(self) -> bool:
        return self.status is None and self.task is None and self.tag is None


@dataclass(frozen=True)
class JobFilter:
    status: Optional[str] = None  # DONE / CACHED / FAILED
    task: Optional[str] = None

    @property
    def empty(self) -> bool:
        return self.status is None and self.task is None


@dataclass(frozen=True)
class ExecDetail:
    summary: ExecSummary
    counts: Dict[str, int]  # job status -> number of jobs


@dataclass(frozen=True)
class CacheNote:
    """Whether a job's result came from the cache, and why (or why not)."""

    hit: bool
    reason: str
    other: Optional[JobSummary] = None  # the job the reason refers to


@dataclass(frozen=True)
class Argument:
    label: str  # position or keyword
    value: ValueRef


@dataclass(frozen=True)
class JobDetail:
    summary: JobSummary
    execution: Optional[ExecSummary]
    task_hash: str
    call_hash: Optional[str]
    arguments: List[Argument]
    result: Optional[ValueRef]
    failure: Optional[Failure]
    cache: CacheNote
    parent: Optional[JobSummary]
    children: List[JobSummary]  # the first page of child jobs
    more_children: bool


@dataclass(frozen=True)
class ValueDetail:
    ref: ValueRef
    text: str  # a longer preview than a line's
    failure: Optional[Failure]
    producers: List[JobSummary]  # jobs that returned it, newest first
    consumers: List[JobSummary]  # jobs that took it as an argument, newest first
    containers: List[ValueRef]  # values holding it
    contents: List[ValueRef]  # values it holds


@dataclass(frozen=True)
class TaskVersion:
    hash: str
    first: Optional[int]
    last: Optional[int]
    jobs: int


@dataclass(frozen=True)
class TaskDetail:
    hash: str
    fullname: str
    source: str
    versions: List[TaskVersion]  # every hash recorded under this name, newest use first
    jobs: Page  # newest jobs of this version


@dataclass(frozen=True)
class LineageNode:
    """A step of a file's lineage: a value (made by a job) or a job (made from its arguments)."""

    kind: str  # "value" or "job"
    label: str  # how the step relates to its parent: "result", "arg 0", "item"...
    value: Optional[ValueRef] = None
    job: Optional[JobSummary] = None


@dataclass(frozen=True)
class Target:
    """Where a jump by id, name or path lands: kind in execution/job/value/task/file."""

    kind: str
    key: object
    note: str = ""


@dataclass(frozen=True)
class Choices:
    """A jump that matched several records: (description, Target) to choose from."""

    text: str
    options: List[Tuple[str, Target]] = field(default_factory=list)
