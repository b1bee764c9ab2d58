"""A progress store that cannot be written: a healthy store is read, never moved aside; a command that must
save says in one line why it cannot and what to do; `doctor` reports it.

Root ignores permission bits, so the read-only cases that matter are made for real: a read-only bind mount
of the home (or of the store file alone) inside a private mount namespace (`unshare`), where the CLI runs.
The in-process tests cover what SQLite or the OS say in the other ways a store can be unwritable.
"""

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mhaquiz.cli import app
from mhaquiz.errors import MhaquizError
from mhaquiz.paths import user_home
from mhaquiz.store import ReviewRecord, Store, StoreUnwritable, inspect_store

BASIC = Path(__file__).parent / "banks" / "basic"
ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
runner = CliRunner()

# Runs CliRunner inside the namespace for each command and prints {name: [exit, stdout, stderr]} as JSON.
DRIVER = textwrap.dedent("""
    import json, sys
    from typer.testing import CliRunner
    from mhaquiz.cli import app
    runner = CliRunner()
    out = {}
    for name, args, stdin in json.loads(sys.argv[1]):
        result = runner.invoke(app, args, input=stdin)
        out[name] = [result.exit_code, result.stdout, result.stderr]
    print(json.dumps(out))
""")


def run_read_only(mount: Path, home: Path, commands: list) -> dict:
    """Run `commands` ((name, argv, stdin)) through the CLI with `mount` bind-mounted read-only over itself
    in a private user and mount namespace; MHAQUIZ_HOME is `home`."""
    script = f"mount --bind '{mount}' '{mount}' && mount -o remount,bind,ro '{mount}' && exec \"$0\" -c \"$1\" \"$2\""
    env = {**os.environ, "MHAQUIZ_HOME": str(home), "LANG": "C.UTF-8", "LC_ALL": "", "LANGUAGE": ""}
    result = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, sys.executable, DRIVER,
         json.dumps(commands)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def healthy_store(home: Path) -> Path:
    """A store with one answer and one grade, closed cleanly (no -wal or -shm file left)."""
    with Store.open(home / "progress.sqlite3") as store:
        store.record_review(ReviewRecord("att-scale", "attention", 3, True, "x", False, T0), None)  # in BASIC
        store.record_grade("softmax", False, {"verdict": "wrong_answer", "cases_passed": 2, "cases_total": 5})
    return home / "progress.sqlite3"


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_a_read_only_home_holding_a_healthy_store(tmp_path):
    home = tmp_path / "home"
    path = healthy_store(home)
    before = path.read_bytes()
    out = run_read_only(home, home, [
        ("stats", ["stats", "--json", "--bank", str(BASIC)], None),
        ("list", ["list", "--json"], None),
        ("ask", ["ask", "--bank", str(BASIC), "--lang", "en"], "1\n"),
        ("ask_zh", ["ask", "--bank", str(BASIC), "--lang", "zh"], "1\n"),
        ("cram", ["ask", "--cram", "--bank", str(BASIC), "--lang", "en", "-n", "1", "--seed", "1"], "\n"),
        ("hint", ["hint", "softmax", "--lang", "en"], None),
        ("doctor", ["doctor", "--json", "--sandbox", "process"], None),
        ("doctor_zh", ["doctor", "--sandbox", "process", "--lang", "zh"], None),
    ])
    code, stdout, stderr = out["stats"]
    assert (code, stderr) == (0, "")
    assert json.loads(stdout)["reviews"] == 1
    code, stdout, stderr = out["list"]
    softmax = next(row for row in json.loads(stdout) if row["id"] == "softmax")
    assert (code, stderr, softmax["attempts"], softmax["status"]) == (0, "", 1, "attempted")

    code, stdout, stderr = out["ask"]
    assert code == 2 and stdout == ""
    assert one_line(stderr) == (
        f"Error: cannot save your answers in {path}: the file system is read-only. Set MHAQUIZ_HOME to a writable"
        " folder, or make this one writable; `mhaquiz ask --cram` practises without saving")
    code, _, stderr = out["ask_zh"]
    assert code == 2 and one_line(stderr).startswith(f"错误：无法把答题记录保存到 {path}：文件系统是只读的。")

    code, stdout, stderr = out["cram"]  # practice without saving: said once, up front; no "saved to"
    assert code == 0 and "cannot be written (the file system is read-only)" in one_line(stderr)
    assert "Progress saved" not in stdout and "Answered 1, right or recalled 0" in stdout
    code, stdout, stderr = out["hint"]  # the hint is shown; that it is not remembered is said
    assert code == 0 and "hint 1 of 4" in stdout and "nothing this command does will be saved" in one_line(stderr)
    assert "more: run mhaquiz hint" not in stdout  # running it again would show the same hint: not promised

    state = json.loads(out["doctor"][1])["store_state"]
    assert state == {"path": str(path), "state": "readonly", "why": {"why": "readonly_fs", "detail": ""},
                     "answers": 1, "grades": 1}
    assert "只读（文件系统是只读的）" in out["doctor_zh"][1]
    # nothing was moved, renamed or written
    assert sorted(p.name for p in home.iterdir()) == ["progress.sqlite3"] and path.read_bytes() == before


def test_grade_on_a_read_only_store_still_grades_and_says_in_one_line_it_did_not_record(tmp_path):
    home = tmp_path / "home"
    path = healthy_store(home)
    submission = tmp_path / "softmax.py"
    submission.write_text((ROOT / "solutions" / "softmax.py").read_text(encoding="utf-8"), encoding="utf-8")
    out = run_read_only(home, home, [
        ("grade", ["grade", str(submission), "--json", "--sandbox", "process", "--lang", "en"], None),
    ])
    code, stdout, stderr = out["grade"]
    assert json.loads(stdout)["passed"] is True and code == 0
    assert one_line(stderr) == (
        f"Warning: result not recorded: cannot save your progress in {path}: the file system is read-only. Set"
        " MHAQUIZ_HOME to a writable folder, or make this one writable")
    with Store.open(path) as store:  # outside the namespace: still the one grade from before
        assert store.exercise_progress()["softmax"].attempts == 1


def test_an_empty_read_only_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    out = run_read_only(home, home, [
        ("stats", ["stats", "--json", "--bank", str(BASIC)], None),
        ("ask", ["ask", "--bank", str(BASIC), "--lang", "en"], "1\n"),
        ("doctor", ["doctor", "--json", "--sandbox", "process"], None),
    ])
    code, stdout, stderr = out["stats"]
    assert (code, stderr, json.loads(stdout)["reviews"], json.loads(stdout)["seen"]) == (0, "", 0, 0)
    assert out["ask"][0] == 2 and "the file system is read-only. Set MHAQUIZ_HOME" in one_line(out["ask"][2])
    assert json.loads(out["doctor"][1])["store_state"]["state"] == "uncreatable"
    assert list(home.iterdir()) == []


def test_a_read_only_store_file_in_a_writable_folder(tmp_path):
    home = tmp_path / "home"
    path = healthy_store(home)
    out = run_read_only(path, home, [
        ("stats", ["stats", "--json", "--bank", str(BASIC)], None),
        ("ask", ["ask", "--bank", str(BASIC), "--lang", "en"], "1\n"),
    ])
    assert out["stats"][0] == 0 and json.loads(out["stats"][1])["reviews"] == 1
    assert out["ask"][0] == 2 and "cannot save your answers" in one_line(out["ask"][2])
    assert not list(home.glob("*.broken-*"))


def test_garbage_in_a_read_only_home_is_refused_in_one_line_and_left_alone(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "progress.sqlite3").write_bytes(b"not a database\x00" * 200)
    out = run_read_only(home, home, [("stats", ["stats", "--json", "--bank", str(BASIC), "--lang", "en"], None)])
    code, _, stderr = out["stats"]
    assert code == 2
    assert one_line(stderr) == (f"Error: {home / 'progress.sqlite3'} is not a mhaquiz progress store and cannot be"
                                " moved aside here. Set MHAQUIZ_HOME to another folder")
    assert [p.name for p in home.iterdir()] == ["progress.sqlite3"]


def test_a_home_that_cannot_be_created(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    monkeypatch.setenv("MHAQUIZ_HOME", str(blocker / "home"))
    stats = runner.invoke(app, ["stats", "--json", "--bank", str(BASIC)])
    assert (stats.exit_code, stats.stderr, json.loads(stats.stdout)["reviews"]) == (0, "", 0)
    ask = runner.invoke(app, ["ask", "--bank", str(BASIC), "--lang", "zh"], input="1\n")
    assert ask.exit_code == 2
    assert one_line(ask.stderr) == (
        f"错误：无法把答题记录保存到 {blocker / 'home'}：该位置已有一个同名文件，不是目录。请把 MHAQUIZ_HOME 设为一个可写的目录，"
        "或让这个目录可写；`mhaquiz ask --cram` 可以只练习、不保存")
    grade = runner.invoke(app, ["grade", str(ROOT / "solutions" / "softmax.py"), "--json", "--lang", "en"])
    assert one_line(grade.stderr) == (
        f"Warning: result not recorded: cannot create the folder {blocker / 'home'} for your progress: a file stands"
        " where the folder should be. Set MHAQUIZ_HOME to a folder you can write")
    state = json.loads(runner.invoke(app, ["doctor", "--json", "--sandbox", "process"]).stdout)["store_state"]
    assert (state["state"], state["why"]["why"]) == ("uncreatable", "not_a_folder")


def test_a_folder_the_os_says_is_not_writable_is_opened_read_only(monkeypatch):
    """What root cannot feel through chmod, os.access reports for a non-root user: the store is read, not
    migrated or moved, and every write raises the one-line error."""
    with Store.open() as store:
        store.record_review(ReviewRecord("q", "t", 3, True, "x", False, T0), None)
        path = store.path
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode & os.W_OK else real_access(p, mode, **kw))
    with pytest.raises(StoreUnwritable) as raised:
        Store.open()
    assert raised.value.text("en") == (f"cannot save your progress in {path}: no permission to write there. Set"
                                       " MHAQUIZ_HOME to a writable folder, or make this one writable")
    with Store.open(write=False) as store:
        assert store.readonly and store.review_totals() == {"t": (1, 1)}
        with pytest.raises(StoreUnwritable):
            store.record_review(ReviewRecord("q", "t", 1, False, "y", False, T0), None)
    assert inspect_store()["state"] == "readonly"
    monkeypatch.setattr(os, "access", real_access)
    with Store.open() as store:
        assert store.review_totals() == {"t": (1, 1)}  # the refused write left nothing


@pytest.mark.parametrize("how", ["read-only connection", "refused at connect"])
def test_sqlite_refusing_to_write_is_not_corruption(monkeypatch, how):
    """An immutable file or one without write permission: SQLite opens it read-only and refuses the first
    write with 'attempt to write a readonly database' (or refuses to open it read-write at all). The store is
    then opened read-only, never moved aside; only SQLite's 'not a database' moves a file."""
    with Store.open() as store:
        store.record_review(ReviewRecord("q", "t", 3, True, "x", False, T0), None)
        path = store.path
    real_connect = sqlite3.connect

    def refusing(target, *args, **kwargs):
        if str(target) != str(path):  # the read-only open below is a file: URI
            return real_connect(target, *args, **kwargs)
        if how == "refused at connect":
            raise sqlite3.OperationalError("attempt to write a readonly database")
        return real_connect(f"file:{path}?mode=ro", *args, uri=True, **kwargs)  # what SQLite falls back to

    monkeypatch.setattr(sqlite3, "connect", refusing)
    with pytest.raises(StoreUnwritable, match="cannot save your progress"):
        Store.open()
    with Store.open(write=False) as store:
        assert store.readonly and store.moved_aside is None and store.review_totals() == {"t": (1, 1)}
    assert not list(path.parent.glob("*.broken-*"))
    monkeypatch.setattr(sqlite3, "connect", real_connect)
    with Store.open() as store:
        assert store.review_totals() == {"t": (1, 1)}


def test_a_newer_schema_on_a_read_only_store_is_still_refused(monkeypatch):
    with Store.open() as store:
        store.connection.execute("INSERT INTO migrations VALUES (99, 'future', '2030-01-01T00:00:00+00:00')")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode & os.W_OK else real_access(p, mode, **kw))
    with pytest.raises(MhaquizError, match="newer mhaquiz"):
        Store.open(write=False)


def test_an_unusable_file_is_moved_aside_with_its_wal_and_shm():
    home = Store.open().path.parent
    (home / "progress.sqlite3").write_bytes(b"garbage\x00" * 500)
    (home / "progress.sqlite3-wal").write_bytes(b"old wal")
    (home / "progress.sqlite3-shm").write_bytes(b"old shm")
    with Store.open() as store:
        moved = store.moved_aside
    assert sorted(p.name for p in home.glob("*.broken-*")) == sorted(
        f"{moved.name}{suffix}" for suffix in ("", "-wal", "-shm"))
    assert Path(f"{moved}-wal").read_bytes() == b"old wal"


def test_doctor_reports_each_state_of_a_writable_home():
    def state():
        return json.loads(runner.invoke(app, ["doctor", "--json", "--sandbox", "process"]).stdout)["store_state"]

    assert (state()["state"], state()["why"]) == ("missing", None)
    text = runner.invoke(app, ["doctor", "--sandbox", "process", "--lang", "zh"]).stdout
    assert "  尚未创建：第一次答题或评分时会自动创建。\n" in text
    path = healthy_store(user_home())
    assert state() == {"path": str(path), "state": "ok", "why": None, "answers": 1, "grades": 1}
    assert "  Writable: 1 answers and 1 grades recorded.\n" in runner.invoke(
        app, ["doctor", "--sandbox", "process", "--lang", "en"]).stdout
    path.write_bytes(b"garbage\x00" * 300)
    assert state()["state"] == "not_ours" and path.read_bytes() == b"garbage\x00" * 300  # doctor moves nothing
