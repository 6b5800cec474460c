"""`--format json` of fsck, gc, push, pull and db info: one object on stdout, with
exactly the keys each command's --help lists, and the text output's exit codes."""

import json
import os

from click.testing import CliRunner

from conftest_s3 import make_exec
from gcfixtures import age_everything, exec_ref, write_execution
from redun.cli.group import cli
from redun.repo.repository import Repo


def invoke(root, *args):
    return CliRunner().invoke(cli, ["-c", root, *args])


def as_json(res) -> dict:
    return json.loads(res.stdout)


def test_fsck_json_clean_and_damaged(tmp_path):
    repo = Repo.init(str(tmp_path / ".redun"))
    make_exec(repo, 3)
    res = invoke(repo.root, "fsck", "--format", "json")
    assert res.exit_code == 0, res.output
    report = as_json(res)
    assert set(report) == {"ok", "objects", "packs", "loose", "refs", "problems", "garbage", "notes", "recovered"}
    assert report["ok"] is True and report["objects"] == 17 and report["refs"] == 1
    assert report["problems"] == [] and report["garbage"] == [] and report["recovered"] == []
    pack = next(p for p in os.listdir(repo.store.packs_dir) if p.endswith(".pack"))
    path = os.path.join(repo.store.packs_dir, pack)
    with open(path, "r+b") as f:  # one flipped byte in the last object
        f.seek(-3, 2)
        byte = f.read(1)
        f.seek(-3, 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    res = invoke(repo.root, "fsck", "--format", "json")
    assert res.exit_code == 1
    report = as_json(res)
    assert report["ok"] is False and report["problems"]
    assert {"kind", "name", "message", "where"} == set(report["problems"][0])
    assert {p["kind"] for p in report["problems"]} <= {"object", "pack", "index", "ref", "link", "file"}
    assert "hint" not in res.stdout  # hints are for people, on stderr in text mode only


def test_gc_json_dry_run_lists_then_removes(tmp_path):
    repo = Repo.init(str(tmp_path / ".redun"))
    with repo.store.pack_writer() as w:
        live = write_execution(w, "live")
        dead = write_execution(w, "dead")
    repo.refs.set(exec_ref(live["exec_id"]), live["exec"])
    age_everything(repo.root)
    res = invoke(repo.root, "gc", "--dry-run", "--format", "json")
    assert res.exit_code == 0, res.output
    report = as_json(res)
    assert list(report) == ["would_remove", "dry_run", "objects", "packs", "kept", "garbage", "garbage_bytes",
                            "packs_rewritten", "packs_removed", "loose_removed", "loose_packed",
                            "missing_links", "restored_refs"]
    assert report["dry_run"] is True and report["garbage"] == 5 == len(report["would_remove"])
    assert dead["job"].hex() in {o["id"] for o in report["would_remove"]}
    assert {o["type"] for o in report["would_remove"]} <= {"job", "callnode", "value", "task", "execution"}
    assert sum(o["bytes"] for o in report["would_remove"]) == report["garbage_bytes"]
    res = invoke(repo.root, "gc", "--grace", "1", "--format", "json")
    report = as_json(res)
    assert res.exit_code == 0 and report["dry_run"] is False and report["would_remove"] == []
    assert report["garbage"] == 5 and report["packs_rewritten"] == 1
    res = invoke(repo.root, "gc", "--grace", "1", "--format", "json")
    assert as_json(res)["garbage"] == 0


def test_push_and_pull_json(tmp_path):
    a = Repo.init(str(tmp_path / "a" / ".redun"))
    b = Repo.init(str(tmp_path / "b"))
    name, oids = make_exec(a, 2)
    assert invoke(a.root, "repo", "add", "b", b.root).exit_code == 0
    res = invoke(a.root, "push", "b", "--format", "json")
    assert res.exit_code == 0, res.output
    report = as_json(res)
    assert set(report) == {"repo", "objects", "up_to_date", "refs", "skipped", "failed"}
    assert report["repo"] == "b" and report["objects"] == len(oids) and report["up_to_date"] is False
    assert list(report["refs"]) == [name] and report["skipped"] == [] and report["failed"] == {}
    assert as_json(invoke(a.root, "push", "b", "--format", "json"))["up_to_date"] is True
    other, _ = make_exec(b, 1)
    report = as_json(invoke(a.root, "pull", "b", "--format", "json"))
    assert report["objects"] > 0 and list(report["refs"]) == [other]
    assert invoke(a.root, "pull", "nope", "--format", "json").exit_code == 1  # errors exit as before


def test_db_info_json_matches_the_text(tmp_path):
    from redun import __version__
    from redun.index import SCHEMA_VERSION

    repo = Repo.init(str(tmp_path / ".redun"))
    make_exec(repo, 3)
    res = invoke(repo.root, "db", "info", "--format", "json")
    assert res.exit_code == 0, res.output
    info = as_json(res)
    assert set(info) == {"version", "config_dir", "repo_format", "repo_format_description", "supported_formats",
                         "requires", "compatible", "storage", "index", "packs_ingested", "records"}
    assert info["requires"] == ">=1.0,<2" and info["compatible"] is True
    assert info["storage"] == {"kind": "local", "db_uri": None}
    assert info["version"] == __version__ and info["repo_format"] == "1.0" and "1.0" in info["supported_formats"]
    assert info["index"]["schema"] == SCHEMA_VERSION and info["index"]["bytes"] > 0
    assert info["records"] == {"Execution": 1, "Job": 4, "CallNode": 4, "Task": 1, "Value": 7, "Tag": 0}
    text = invoke(repo.root, "db", "info").stdout
    assert "records: 1 Execution, 4 Job, 4 CallNode, 1 Task, 7 Value, 0 Tag" in text
    assert f"index schema: {SCHEMA_VERSION} (" in text and "db version: 1.0 '" in text


def test_every_json_key_is_documented_in_help():
    keys = {
        "fsck": ["ok", "objects", "packs", "loose", "refs", "problems", "garbage", "notes", "recovered"],
        "gc": ["would_remove", "dry_run", "objects", "packs", "kept", "garbage", "garbage_bytes",
               "packs_rewritten", "packs_removed", "loose_removed", "loose_packed", "missing_links",
               "restored_refs"],
        "push": ["repo", "objects", "up_to_date", "refs", "skipped", "failed"],
        "pull": ["repo", "objects", "up_to_date", "refs", "skipped", "failed"],
        "db info": ["version", "config_dir", "repo_format", "repo_format_description", "supported_formats",
                    "index", "packs_ingested", "records"],
    }
    for command, names in keys.items():
        res = CliRunner().invoke(cli, [*command.split(), "--help"])
        assert res.exit_code == 0 and "--format [text|json]" in res.output
        for key in names:
            assert key in res.output, (command, key)
