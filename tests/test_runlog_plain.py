"""RunLog's direct write (redun.logging.write_plain) prints exactly what the `redun`
logger would, and steps aside whenever logging is set up in any other way."""

import io
import logging

import pytest

from redun import logging as redun_logging
from redun.engine.runlog import RunLog

MESSAGES = ["Run    Job 1234abcd:  ns.task(x=1, y='100%s %d') on default", "", "ünïcode ✓", "a\nb"]


@pytest.fixture
def configured(monkeypatch):
    """The `redun` logger as `redun run` has it. Call it inside the test: pytest's log capture
    adds handlers at the start of each test's call (to it, through conftest.py, and to the
    root logger), which rightly turn the direct path off."""
    def setup():
        monkeypatch.setattr(redun_logging.logger, "handlers", [redun_logging.log_handler])
        monkeypatch.setattr(redun_logging.logger, "propagate", False)

    return setup


@pytest.mark.parametrize("message", MESSAGES)
def test_direct_write_is_what_logging_writes(configured, capsys, message):
    configured()
    assert redun_logging.write_plain(logging.INFO, message)
    direct = capsys.readouterr().err
    redun_logging.logger.log(logging.INFO, message)
    assert direct == capsys.readouterr().err == f"[redun] {message}\n"


def test_runlog_writes_through_the_direct_path(configured, capsys, monkeypatch):
    configured()
    calls = []
    monkeypatch.setattr(redun_logging.logger, "log", lambda *a: calls.append(a))
    RunLog().log("hello")
    assert capsys.readouterr().err == "[redun] hello\n" and calls == []


def test_level_above_info_writes_nothing(configured, capsys):
    configured()
    redun_logging.set_log_level("ERROR")
    try:
        RunLog().log("hidden")
        assert not redun_logging.write_plain(logging.INFO, "hidden")
    finally:
        redun_logging.set_log_level("INFO")
    assert capsys.readouterr().err == ""


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record.getMessage())


def test_a_handler_above_gets_every_line(configured, capsys, monkeypatch):
    configured()
    monkeypatch.setattr(redun_logging.logger, "propagate", True)
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    assert redun_logging.write_plain(logging.INFO, "alone")
    extra = _Collect()
    logging.getLogger().addHandler(extra)
    assert not redun_logging.write_plain(logging.INFO, "x")
    RunLog().log("seen by root")
    assert extra.records == ["seen by root"]
    assert capsys.readouterr().err == "[redun] alone\n[redun] seen by root\n"


def test_filters_and_other_handlers_are_honoured(configured, capsys):
    configured()
    logger = redun_logging.logger
    drop = logging.Filter("nothing-matches")
    logger.addFilter(drop)
    try:
        RunLog().log("filtered out")
    finally:
        logger.removeFilter(drop)
    extra = _Collect()
    logger.addHandler(extra)
    RunLog().log("both handlers")
    assert extra.records == ["both handlers"]
    assert capsys.readouterr().err == "[redun] both handlers\n"


def test_another_formatter_is_used(configured, capsys):
    configured()
    handler = redun_logging.log_handler
    handler.setFormatter(logging.Formatter("<%(levelname)s> %(message)s"))
    try:
        RunLog().log("formatted")
    finally:
        handler.setFormatter(redun_logging.log_formatter)
    assert capsys.readouterr().err == "<INFO> formatted\n"


def test_a_scheduler_logger_of_its_own_is_used():
    own = logging.getLogger("test-runlog-own")
    own.propagate = False
    got = _Collect()
    own.addHandler(got)
    own.setLevel(logging.INFO)
    RunLog(logger=own).log("mine")
    assert got.records == ["mine"]


def test_a_failed_write_goes_through_logging(configured, monkeypatch):
    configured()

    class Broken(io.StringIO):
        def write(self, s):
            raise OSError("closed")

    monkeypatch.setattr("sys.stderr", Broken())
    errors = []
    monkeypatch.setattr(redun_logging.log_handler, "handleError", lambda record: errors.append(record.getMessage()))
    RunLog().log("lost")
    assert errors == ["lost"]  # logging's own error handling decides, as without the direct path


def test_a_stream_without_flush_or_with_a_failing_one(configured, monkeypatch):
    """Written once either way: a stream with no flush() is not flushed (as StreamHandler),
    and a failing flush is reported through the handler's handleError, not written again."""
    configured()

    class NoFlush:
        def __init__(self):
            self.out = []

        def write(self, s):
            self.out.append(s)

    class BadFlush(NoFlush):
        def flush(self):
            raise OSError("flush failed")

    errors = []
    monkeypatch.setattr(redun_logging.log_handler, "handleError", lambda record: errors.append(record.getMessage()))
    for cls in (NoFlush, BadFlush):
        stream = cls()
        monkeypatch.setattr("sys.stderr", stream)
        RunLog().log(cls.__name__)
        assert stream.out == [f"[redun] {cls.__name__}\n"]
    assert errors == ["BadFlush"]
