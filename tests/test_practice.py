"""The practice loop: list, start, hint, solution, reset, watch, interview, and exercises in stats.

Through the CLI runner (piped: no terminal, so no colour, no confirmations without --yes) and the core API
(mhaquiz/practice/loop.py, mhaquiz/practice/interview.py). MHAQUIZ_HOME is a fresh temporary folder per test (conftest).
"""

import io
import json
import re
import shlex
import shutil
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from mhaquiz import cli
from mhaquiz.practice import loop as practice
from mhaquiz.cli import app
from mhaquiz.grader.exercises import all_exercises, get_exercise
from mhaquiz.practice.interview import TimedTerminal, run_interview
from mhaquiz.quiz.bank import load_bank
from mhaquiz.store import Store

ENGLISH = {"LC_ALL": "", "LC_MESSAGES": "", "LANG": "en_US.UTF-8"}
BASIC = Path(__file__).parent / "banks" / "basic"
runner = CliRunner()
ANSI = re.compile(r"\x1b\[")
MHA_CASES = len(get_exercise("mha_forward").checks().make_cases(0))  # the grader's cases, as the exercise defines them


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input, env=ENGLISH)


def reference(exercise_id: str) -> str:
    return get_exercise(exercise_id).solution_path.read_text(encoding="utf-8")


def stub(exercise_id: str) -> str:
    return get_exercise(exercise_id).stub_path.read_text(encoding="utf-8")


def progress(exercise_id: str):
    with Store.open() as store:
        return store.exercise_progress().get(exercise_id)


def hints_shown(exercise_id: str) -> int:
    with Store.open() as store:
        return store.hints_shown(exercise_id)


def listing() -> dict:
    result = invoke("list", "--json")
    assert result.exit_code == 0, result.output
    return {row["id"]: row for row in json.loads(result.stdout)}


# --- list -----------------------------------------------------------------------------------------


def test_list_fresh_every_exercise_not_started_in_learning_order():
    result = invoke("list", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["id"] for row in rows] == [exercise.id for exercise in practice.curriculum()]
    assert {row["id"] for row in rows} == {exercise.id for exercise in all_exercises()}
    assert all(row["status"] == "not started" and row["best"] is None and row["attempts"] == 0 for row in rows)
    orders = [row["order"] for row in rows if isinstance(row["order"], int)]
    assert orders == sorted(orders)
    assert [row["position"] for row in rows] == list(range(1, len(rows) + 1))
    forward = next(row for row in rows if row["id"] == "mha_forward")
    assert forward["title"]["en"] == "Multi-head attention: forward" and forward["hints_total"] >= 1

    plain = invoke("list")
    assert plain.exit_code == 0 and not ANSI.search(plain.stdout)
    assert "0 passed, 0 attempted" in plain.stdout
    for row in rows:
        assert re.search(rf"^\s*{row['position']}\. {row['id']}\s+not started", plain.stdout, re.M), plain.stdout
    assert f"Next: mhaquiz start {rows[0]['id']}" in plain.stdout


def test_list_after_grades_shows_attempted_and_passed_with_the_best_result(tmp_path):
    assert invoke("start", "mha_backward", "--dir", str(tmp_path)).exit_code == 0
    attempt = tmp_path / "mha_backward.py"
    attempt.write_text(stub("mha_backward") + "\n# my first try\n", encoding="utf-8")  # touched: an attempt
    assert invoke("grade", str(attempt)).exit_code == 1
    good = tmp_path / "good.py"
    good.write_text(reference("mha_forward"), encoding="utf-8")
    assert invoke("grade", str(good), "-e", "mha_forward").exit_code == 0

    rows = listing()
    backward, forward = rows["mha_backward"], rows["mha_forward"]
    assert backward["status"] == "attempted" and backward["attempts"] == 1
    assert backward["best"]["cases_passed"] == 0 and backward["best"]["cases_total"] > 0
    assert forward["status"] == "passed" and forward["best"]["cases_passed"] == forward["best"]["cases_total"] == MHA_CASES
    assert forward["best_graded_at"] and forward["last_graded_at"]

    plain = invoke("list").stdout
    today = progress("mha_forward").last_graded_at.astimezone().date().isoformat()
    assert re.search(rf"mha_forward\s+passed\s+again in \d+\S*\s+{MHA_CASES}/{MHA_CASES} cases \({today}\)", plain), plain
    assert re.search(r"mha_backward\s+attempted\s+0/\d+ cases", plain), plain
    assert "1 passed, 1 attempted" in plain


def test_list_in_chinese():
    result = invoke("list", "--lang", "zh")
    assert result.exit_code == 0
    assert "未开始" in result.stdout and "多头注意力：前向传播" in result.stdout


# --- start ----------------------------------------------------------------------------------------


def test_start_writes_the_stub_and_prints_the_prompt(tmp_path):
    result = invoke("start", "mha_forward", "--dir", str(tmp_path), "--lang", "en")
    assert result.exit_code == 0, result.output
    written = tmp_path / "mha_forward.py"
    assert written.read_text(encoding="utf-8") == stub("mha_forward")
    assert "Implement `mha_forward" in result.stdout and str(written) in result.stdout
    assert "mhaquiz hint mha_forward" in result.stdout
    chinese = invoke("start", "mha_forward", "--dir", str(tmp_path), "--lang", "zh", "--force")
    assert chinese.exit_code == 0 and get_exercise("mha_forward").prompt("zh").splitlines()[0] in chinese.stdout


def test_start_defaults_to_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert invoke("start", "mha_forward").exit_code == 0
    assert (tmp_path / "mha_forward.py").read_text(encoding="utf-8") == stub("mha_forward")


def test_start_on_an_existing_file_shows_the_task_and_keeps_the_file(tmp_path):
    tmp_path = tmp_path / "work"
    tmp_path.mkdir()
    mine = tmp_path / "mha_forward.py"
    mine.write_text("# my work\n", encoding="utf-8")
    result = invoke("start", "mha_forward", "--dir", str(tmp_path), "--lang", "zh")
    assert result.exit_code == 0
    assert get_exercise("mha_forward").prompt("zh").splitlines()[0] in result.stdout
    assert "已存在：保持不动" in result.stdout
    assert mine.read_text(encoding="utf-8") == "# my work\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mha_forward.py"]
    # the command that starts afresh, ready to paste: it does what it says
    command = f"mhaquiz start mha_forward --dir {shlex.quote(str(tmp_path))} --force"
    assert f"想重新开始（原文件会改名保留，不会丢失）：{command}\n" in result.stdout
    again = invoke(*shlex.split(command)[1:])
    assert again.exit_code == 0 and mine.read_text(encoding="utf-8") == stub("mha_forward")
    assert len(list(tmp_path.glob("mha_forward.*.py"))) == 1


def test_start_force_puts_the_earlier_file_aside_never_destroys_it(tmp_path):
    tmp_path = tmp_path / "work"
    tmp_path.mkdir()
    mine = tmp_path / "mha_forward.py"
    mine.write_text("# my work\n", encoding="utf-8")
    forced = invoke("start", "mha_forward", "--dir", str(tmp_path), "--force")
    assert forced.exit_code == 0
    assert mine.read_text(encoding="utf-8") == stub("mha_forward")
    [aside] = [path for path in tmp_path.iterdir() if path.name != "mha_forward.py"]
    assert re.fullmatch(r"mha_forward\.\d{8}-\d{6}\.py", aside.name) and aside.read_text(encoding="utf-8") == "# my work\n"
    assert f"your earlier file is kept as {aside}" in forced.stdout


def test_task_shows_the_task_again_without_touching_anything(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("task", "mha_forward", "--lang", "zh")
    assert result.exit_code == 0
    assert get_exercise("mha_forward").prompt("zh").splitlines()[0] in result.stdout
    assert "开始写：mhaquiz start mha_forward" in result.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad_id", ["nope", "../evil", "../../etc/passwd", "/tmp/evil", "", "mha_forward/../mha_backward"])
def test_start_unknown_or_path_like_id_is_a_usage_error_listing_the_valid_ones(tmp_path, bad_id):
    work = tmp_path / "work"
    work.mkdir()
    result = invoke("start", bad_id, "--dir", str(work))
    assert result.exit_code == 2
    assert "unknown exercise" in result.stderr
    for exercise in all_exercises():
        assert exercise.id in result.stderr
    assert list(tmp_path.rglob("*.py")) == []
    assert "Traceback" not in result.output


@pytest.mark.parametrize("bad_id, near", [("mha_foward", "mha_forward"), ("mha_forward.py", "mha_forward"),
                                          ("MHA_FORWARD", "mha_forward"), ("sofmax", "softmax")])
def test_an_unknown_id_close_to_a_real_one_names_it(tmp_path, bad_id, near):
    result = invoke("start", bad_id, "--dir", str(tmp_path))
    assert result.exit_code == 2 and list(tmp_path.rglob("*.py")) == []
    assert result.stderr == f"Error: unknown exercise {bad_id!r}: did you mean {near}? (mhaquiz list shows them all)\n"


def test_every_command_taking_an_id_names_the_nearest_one(tmp_path):
    mine = tmp_path / "mine.py"
    mine.write_text(reference("mha_forward"), encoding="utf-8")
    for args in (["hint", "mha_foward"], ["task", "mha_foward"], ["solution", "mha_foward", "--yes"],
                 ["reset", "mha_foward", "--dir", str(tmp_path), "--yes"], ["grade", str(mine), "-e", "mha_foward"],
                 ["watch", str(mine), "-e", "mha_foward", "--stop-after", "0"]):
        result = invoke(*args)
        assert result.exit_code == 2 and "did you mean mha_forward?" in result.stderr, args
    chinese = invoke("hint", "mha_foward", "--lang", "zh")
    assert chinese.stderr == "错误：未知的练习 'mha_foward'：你是不是想输入 mha_forward？（mhaquiz list 列出全部练习）\n"


def test_task_and_hint_without_an_id_use_the_exercise_last_started_or_graded(tmp_path):
    fresh = invoke("task")
    assert fresh.exit_code == 2
    assert fresh.stderr == "Error: no exercise started or graded yet: give its id (mhaquiz list shows them all)\n"
    assert invoke("start", "softmax", "--dir", str(tmp_path)).exit_code == 0
    task = invoke("task", "--lang", "en")
    assert task.exit_code == 0 and get_exercise("softmax").prompt("en").splitlines()[0] in task.stdout
    assert task.stderr == "(softmax: the exercise you last started or graded)\n"
    mine = tmp_path / "mine.py"
    mine.write_text(reference("mha_forward"), encoding="utf-8")
    assert invoke("grade", str(mine)).exit_code == 0
    hint = invoke("hint", "--lang", "en")
    assert hint.exit_code == 0 and practice.hints(get_exercise("mha_forward"), "en")[0] in hint.stdout
    assert hints_shown("mha_forward") == 1 and hints_shown("softmax") == 0
    assert invoke("task", "--lang", "zh").stderr == "（mha_forward：你最近开始或评分的练习）\n"


def test_start_creates_the_folder_and_quotes_the_paths_it_suggests(tmp_path):
    folder = tmp_path / "my practice" / "day 1"
    result = invoke("start", "mha_forward", "--dir", str(folder))
    assert result.exit_code == 0, result.output
    assert (folder / "mha_forward.py").read_text(encoding="utf-8") == stub("mha_forward")
    quoted = shlex.quote(str(folder / "mha_forward.py"))
    assert f"mhaquiz grade {quoted}" in result.stdout and f"mhaquiz watch {quoted}" in result.stdout


def test_start_into_a_file_where_the_folder_should_be_is_a_usage_error(tmp_path):
    (tmp_path / "file").write_text("x")
    result = invoke("start", "mha_forward", "--dir", str(tmp_path / "file"))
    assert result.exit_code == 2 and "not a directory" in result.stderr


@pytest.mark.parametrize("exercise_id", [exercise.id for exercise in all_exercises()])
def test_start_then_grade_the_untouched_stub_says_not_implemented_and_records_no_attempt(tmp_path, exercise_id):
    assert invoke("start", exercise_id, "--dir", str(tmp_path)).exit_code == 0
    result = invoke("grade", str(tmp_path / f"{exercise_id}.py"), "--exercise", exercise_id, "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert "Traceback" not in result.stderr  # a verdict, not a crash of mhaquiz
    if exercise_id == "repair_article_code":  # the article's code, not a stub: it defines multi_head_attention
        assert report["verdict"] == "missing_function"
        assert progress(exercise_id) is not None and not progress(exercise_id).passed
        return
    assert report["verdict"] == "not_implemented"
    errors = [case["error"]["type"] for exercise in report["exercises"] for case in exercise["cases"] if "error" in case]
    assert errors and set(errors) == {"NotImplementedError"}
    assert report["detail"]["text"]["en"] == f"{exercise_id} is not implemented yet (it raises NotImplementedError)"
    assert progress(exercise_id) is None  # an untouched stub is no attempt


# --- hint -----------------------------------------------------------------------------------------


def test_hints_are_revealed_one_at_a_time_and_remembered_across_invocations():
    texts = practice.hints(get_exercise("mha_forward"), "en")
    total = len(texts)
    assert total >= 2
    first = invoke("hint", "mha_forward", "--lang", "en")
    assert first.exit_code == 0
    assert f"hint 1 of {total}" in first.stdout and texts[0] in first.stdout and texts[1] not in first.stdout
    assert f"{total - 1} more" in first.stdout
    assert hints_shown("mha_forward") == 1

    second = invoke("hint", "mha_forward", "--lang", "en")
    assert f"hint 2 of {total}" in second.stdout and texts[0] in second.stdout and texts[1] in second.stdout
    assert hints_shown("mha_forward") == 2

    for _ in range(total - 2):
        invoke("hint", "mha_forward", "--lang", "en")
    assert hints_shown("mha_forward") == total
    after = invoke("hint", "mha_forward", "--lang", "en")
    assert after.exit_code == 0
    assert "No more hints" in after.stdout and all(text in after.stdout for text in texts)
    assert hints_shown("mha_forward") == total
    assert listing()["mha_forward"]["hints_shown"] == total


def test_hint_in_chinese_and_for_an_unknown_exercise():
    result = invoke("hint", "mha_forward", "--lang", "zh")
    assert result.exit_code == 0 and practice.hints(get_exercise("mha_forward"), "zh")[0] in result.stdout
    assert "提示 1/" in result.stdout
    unknown = invoke("hint", "../evil")
    assert unknown.exit_code == 2 and "unknown exercise" in unknown.stderr


# --- solution -------------------------------------------------------------------------------------


def test_solution_before_passing_needs_yes_when_piped(tmp_path):
    result = invoke("solution", "mha_forward")
    assert result.exit_code == 2
    assert "--yes" in result.stderr and "not passed" in result.stderr
    assert "def mha_forward" not in result.stdout
    shown = invoke("solution", "mha_forward", "--yes")
    assert shown.exit_code == 0
    assert shown.stdout == reference("mha_forward")  # piped: exactly the source, runnable as a file


def test_solution_before_passing_asks_in_a_terminal(monkeypatch):
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    declined = invoke("solution", "mha_forward", input="n\n")
    assert declined.exit_code == 1 and "def mha_forward" not in declined.stdout
    assert "spoils the exercise" in declined.output
    accepted = invoke("solution", "mha_forward", input="y\n")
    assert accepted.exit_code == 0 and "def mha_forward" in accepted.stdout


def test_solution_after_passing_is_shown_without_asking(tmp_path):
    good = tmp_path / "mha_forward.py"
    good.write_text(reference("mha_forward"), encoding="utf-8")
    assert invoke("grade", str(good)).exit_code == 0
    result = invoke("solution", "mha_forward")
    assert result.exit_code == 0, result.output
    assert result.stdout == reference("mha_forward")
    assert "Reference solution for Multi-head attention: forward" in result.stderr


def test_solution_is_highlighted_in_a_terminal(monkeypatch):
    from mhaquiz.practice.view import render_solution

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="truecolor", width=120)
    render_solution(console, reference("mha_forward"), "Reference")
    text = buffer.getvalue()
    assert ANSI.search(text) and "mha_forward" in text and "Reference" in text


# --- reset ----------------------------------------------------------------------------------------


def test_reset_rewrites_the_stub_and_the_hints_but_keeps_the_grades(tmp_path):
    assert invoke("start", "mha_forward", "--dir", str(tmp_path)).exit_code == 0
    mine = tmp_path / "mha_forward.py"
    mine.write_text(reference("mha_forward"), encoding="utf-8")
    assert invoke("grade", str(mine)).exit_code == 0
    invoke("hint", "mha_forward")
    invoke("hint", "mha_forward")
    assert hints_shown("mha_forward") == 2

    refused = invoke("reset", "mha_forward", "--dir", str(tmp_path))
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert mine.read_text(encoding="utf-8") == reference("mha_forward") and hints_shown("mha_forward") == 2

    done = invoke("reset", "mha_forward", "--dir", str(tmp_path), "--yes")
    assert done.exit_code == 0, done.output
    assert mine.read_text(encoding="utf-8") == stub("mha_forward")
    assert hints_shown("mha_forward") == 0
    record = progress("mha_forward")
    assert record.passed and record.attempts == 1
    assert "hint 1 of" in invoke("hint", "mha_forward").stdout


def test_resets_within_one_second_keep_every_earlier_file(tmp_path, monkeypatch):
    from datetime import datetime, timezone

    from mhaquiz import clock

    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 3, 1, 9, 0, 0, tzinfo=timezone.utc))
    mine = tmp_path / "softmax.py"
    for attempt in ("first", "second", "third"):
        mine.write_text(f"# {attempt} attempt\n", encoding="utf-8")
        assert invoke("reset", "softmax", "--dir", str(tmp_path), "--yes").exit_code == 0
    kept = sorted(path.read_text(encoding="utf-8") for path in tmp_path.glob("softmax.*.py"))
    assert kept == ["# first attempt\n", "# second attempt\n", "# third attempt\n"]
    assert mine.read_text(encoding="utf-8") == stub("softmax")


def test_reset_asks_in_a_terminal_and_writes_a_missing_file_without_asking(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    mine = tmp_path / "mha_forward.py"
    mine.write_text("# mine\n", encoding="utf-8")
    declined = invoke("reset", "mha_forward", "--dir", str(tmp_path), input="n\n")
    assert declined.exit_code == 1 and mine.read_text(encoding="utf-8") == "# mine\n"
    # the question says what really happens: the file is kept aside, not lost
    assert "Your file is not lost: it is kept beside it as <name>.<date-time>.py." in declined.stdout
    assert "lost." not in declined.stdout.replace("not lost:", "")
    accepted = invoke("reset", "mha_forward", "--dir", str(tmp_path), input="y\n")
    assert accepted.exit_code == 0 and mine.read_text(encoding="utf-8") == stub("mha_forward")
    monkeypatch.setattr(cli, "_interactive", lambda: False)
    other = tmp_path / "mha_backward.py"
    assert invoke("reset", "mha_backward", "--dir", str(tmp_path)).exit_code == 0
    assert other.read_text(encoding="utf-8") == stub("mha_backward")


# --- watch ----------------------------------------------------------------------------------------


def test_watch_file_calls_back_now_and_after_each_save(tmp_path):
    target = tmp_path / "work.py"
    target.write_text("x = 1\n", encoding="utf-8")
    seen, stop = [], threading.Event()

    def on_change():
        seen.append(target.read_text(encoding="utf-8") if target.exists() else None)
        if len(seen) >= 2:
            stop.set()

    def writer():
        for number in range(2, 40):  # keep saving until the watcher has seen a change (it may start late)
            if stop.wait(0.25):
                return
            target.write_text(f"x = {number}\n", encoding="utf-8")
            (tmp_path / "other.py").write_text("ignored\n", encoding="utf-8")

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    started = time.monotonic()
    practice.watch_file(target, on_change, stop_event=stop, stop_after=10)
    thread.join(5)
    assert seen[0] == "x = 1\n" and seen[1] != "x = 1\n" and len(seen) == 2
    assert time.monotonic() - started < 9


def test_watch_stops_after_the_given_time(tmp_path):
    target = tmp_path / "work.py"
    target.write_text("x = 1\n", encoding="utf-8")
    calls = []
    started = time.monotonic()
    practice.watch_file(target, lambda: calls.append(1), stop_after=0.5)
    assert calls == [1] and time.monotonic() - started < 3


def test_watch_regrades_on_save_and_records_each_grade(tmp_path):
    assert invoke("start", "mha_forward", "--dir", str(tmp_path)).exit_code == 0
    target = tmp_path / "mha_forward.py"
    target.write_text(stub("mha_forward") + "\n# started\n", encoding="utf-8")  # touched: graded and recorded
    stop = threading.Event()

    def save_the_reference_once_graded():
        while not stop.is_set() and progress("mha_forward") is None:
            time.sleep(0.05)
        while not stop.wait(0.3):  # saved again and again: at least one save lands once watching
            target.write_text(reference("mha_forward"), encoding="utf-8")

    thread = threading.Thread(target=save_the_reference_once_graded, daemon=True)
    thread.start()
    try:
        result = invoke("watch", str(target), "--stop-after", "4")
    finally:
        stop.set()
        thread.join(5)
    assert result.exit_code == 0, result.output  # the last grade passed
    out = result.stdout
    assert out.count("re-grading") >= 2 and "FAILED: not implemented yet" in out and "PASSED mha_forward" in out
    assert out.index("FAILED: not implemented yet") < out.index("PASSED mha_forward")
    assert "Watching" in out and not ANSI.search(out)
    record = progress("mha_forward")
    assert record.passed and record.attempts >= 2


def test_watch_a_file_that_never_existed_is_a_usage_error(tmp_path):
    result = invoke("watch", str(tmp_path / "mha_forward.py"), "--stop-after", "0.3")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and "does not exist: create it first (mhaquiz start ID" in result.stderr


def test_watch_a_folder_is_a_usage_error(tmp_path):
    result = invoke("watch", str(tmp_path), "--stop-after", "0.3")
    assert result.exit_code == 2 and "is a directory" in result.stderr


def test_watch_usage_errors(tmp_path):
    assert invoke("watch", str(tmp_path / "x.py"), "-e", "../evil", "--stop-after", "0").exit_code == 2
    missing_dir = invoke("watch", str(tmp_path / "nope" / "x.py"), "--stop-after", "0")
    assert missing_dir.exit_code == 2 and "no such directory" in missing_dir.stderr


# --- interview ------------------------------------------------------------------------------------

ONE_QUESTION = """\
topic: attention
questions:
  - id: att-scale
    difficulty: easy
    type: mcq
    prompt: {zh: 分数除以什么？, en: "In scaled dot-product attention, what are the scores divided by?"}
    choices:
      a: {zh: "d_k", en: "d_k"}
      b: {zh: "sqrt(d_k)", en: "sqrt(d_k)"}
    answer: [b]
    explanation: {zh: 除以 sqrt(d_k)。, en: By sqrt(d_k).}
    source: Vaswani et al. 2017
"""


def test_interview_with_piped_answers(tmp_path):
    bank = tmp_path / "bank.yaml"
    bank.write_text(ONE_QUESTION, encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    result = invoke("interview", "--minutes", "5", "--bank", str(bank), "--exercise", "mha_forward",
                    "--dir", str(work), "--seed", "1", "--lang", "en", input="b\nnot yet\ndone\n")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Mock interview" in out and "Correct" in out
    written = work / "interview_mha_forward.py"
    assert written.read_text(encoding="utf-8") == stub("mha_forward") and str(written) in out
    assert re.search(r"Type done when finished \([45]:\d\d left\) › not yet", out)
    assert re.search(r"Type done when finished \([45]:\d\d left\) › done", out)
    assert re.search(r"Your answer \(\d:\d\d left\) › b", out)  # the time left at every prompt
    assert "Interview summary" in out
    assert "Questions: 1/1 right (1 planned)" in out
    assert "Exercise mha_forward: not attempted (the stub was left as it was)" in out
    assert re.search(r"Time: 0:0\d of 5:00\n", out)
    assert "Score: 40/100 (questions 40/40, coding 0/60)" in out
    with Store.open() as store:
        assert store.cards() == {}  # the schedule is untouched
        reviews = store.connection.execute("SELECT question_id, correct, cram FROM reviews").fetchall()
        grades = store.exercise_progress()
    assert reviews == [("att-scale", 1, 1)]
    assert grades == {}  # an untouched stub is not an attempt

    again = invoke("interview", "--minutes", "5", "--bank", str(bank), "--exercise", "mha_forward",
                   "--dir", str(work), "--lang", "zh", input="a\n")  # input ends: graded as it is
    assert again.exit_code == 0, again.output
    assert (work / "interview_mha_forward_2.py").exists() and "面试小结" in again.stdout
    assert "得分：0/100" in again.stdout

    (work / "interview_mha_forward_2.py").write_text("# my second try\n", encoding="utf-8")
    third = invoke("interview", "--minutes", "5", "--bank", str(bank), "--exercise", "mha_forward",
                   "--dir", str(work), "--lang", "en", input="a\n")
    assert third.exit_code == 0, third.output
    assert (work / "interview_mha_forward_2.py").read_text(encoding="utf-8") == "# my second try\n"
    assert (work / "interview_mha_forward_3.py").read_text(encoding="utf-8") == stub("mha_forward")


def lopsided_bank(tmp_path) -> Path:
    """Topic `params` holds six numeric questions; `attention` two multiple choice; `cache` two numeric."""
    def numeric(qid):
        return (f"  - id: {qid}\n    type: numeric\n    prompt: {{en: \"d_model = {{d}}, {{heads}} heads: d_head?\"}}\n"
                f"    answer: {{formula: d_head, params: {{d: 512, heads: 8}}, tolerance: 0}}\n")

    def mcq(qid):
        return (f"  - id: {qid}\n    type: mcq\n    prompt: {{en: \"{qid}?\"}}\n    choices: {{a: {{en: x}}, b: {{en: y}}}}\n"
                f"    answer: [a]\n")

    folder = tmp_path / "lopsided"
    folder.mkdir()
    (folder / "params.yaml").write_text("topic: params\nquestions:\n" + "".join(numeric(f"p{i}") for i in range(6)))
    (folder / "attention.yaml").write_text("topic: attention\nquestions:\n" + "".join(mcq(f"a{i}") for i in range(2)))
    (folder / "cache.yaml").write_text("topic: cache\nquestions:\n" + "".join(numeric(f"c{i}") for i in range(2)))
    return folder


def test_interview_draws_a_balanced_set_of_questions(tmp_path):
    import random

    from mhaquiz.practice.interview import pick_questions

    questions = load_bank(lopsided_bank(tmp_path)).select()
    for seed in range(40):
        drawn = pick_questions(questions, 3, random.Random(seed))
        assert len({q.topic for q in drawn}) == 3, seed  # three topics: one question from each
        assert {q.type for q in drawn} == {"mcq", "numeric"}, seed
    # four from three topics: one topic twice, never three numeric from one topic
    for seed in range(40):
        drawn = pick_questions(questions, 4, random.Random(seed))
        assert sorted(q.type for q in drawn) == ["mcq", "mcq", "numeric", "numeric"], seed
        assert max(sum(q.topic == topic for q in drawn) for topic in ("params", "attention", "cache")) == 2
    # answered minutes ago: not drawn again while others are left
    recent = frozenset({"a0", "c0", "p0", "p1", "p2", "p3", "p4"})
    for seed in range(20):
        assert {q.id for q in pick_questions(questions, 3, random.Random(seed), recent)} == {"a1", "c1", "p5"}


def test_interview_through_the_cli_skips_what_was_just_answered_and_names_the_file_it_wrote(tmp_path):
    bank = lopsided_bank(tmp_path)
    with Store.open() as store:  # answered in ask a minute ago
        from datetime import timedelta

        from mhaquiz import clock
        from mhaquiz.store import ReviewRecord

        for qid in ("a0", "c0", "p0", "p1", "p2", "p3", "p4"):
            store.record_review(ReviewRecord(qid, "t", 3, True, "", True, clock.now() - timedelta(minutes=1)), None)
    work = tmp_path / "work"
    work.mkdir()
    result = invoke("interview", "--minutes", "5", "--bank", str(bank), "--exercise", "softmax", "--dir", str(work),
                    "--seed", "3", "--lang", "en", input="\n\n\ndone\n")
    assert result.exit_code == 0, result.output
    with Store.open() as store:
        asked = [row[0] for row in store.connection.execute("SELECT question_id FROM reviews WHERE answer = '' "
                                                             "AND correct = 0 ORDER BY id")]
    assert sorted(asked) == ["a1", "c1", "p5"]
    out = result.stdout
    assert "`mhaquiz grade interview_softmax.py`" in out and "grade softmax.py" not in out  # the file written
    chinese = invoke("interview", "--minutes", "5", "--bank", str(bank), "--exercise", "softmax", "--dir", str(work),
                     "--questions", "0", "--lang", "zh", input="done\n")
    assert "mhaquiz grade interview_softmax_2.py" in chinese.stdout and "grade softmax.py" not in chinese.stdout


def test_interview_with_the_default_bank_and_no_answers_at_all(tmp_path):
    result = invoke("interview", "--minutes", "1", "--dir", str(tmp_path), "--seed", "7", input="")
    assert result.exit_code == 0, result.output
    assert "Interview summary" in result.stdout and "Score: 0/100" in result.stdout
    assert len(list(tmp_path.glob("interview_*.py"))) == 1


def test_interview_usage_errors(tmp_path):
    assert invoke("interview", "--exercise", "../evil", "--dir", str(tmp_path)).exit_code == 2
    assert invoke("interview", "--minutes", "0", "--dir", str(tmp_path)).exit_code == 2
    assert invoke("interview", "--dir", str(tmp_path / "missing"), "-e", "mha_forward", input="").exit_code == 2
    assert list(tmp_path.rglob("*.py")) == []


def terminal() -> tuple[TimedTerminal, io.StringIO]:
    buffer = io.StringIO()
    return TimedTerminal(Console(file=buffer, width=100), "en", interactive=False), buffer


def test_interview_core_solved_in_time_scores_full_marks(tmp_path):
    term, buffer = terminal()
    target = tmp_path / "interview_mha_forward.py"

    def learner_solves_it() -> str:
        target.write_text(reference("mha_forward"), encoding="utf-8")
        return "done\n"

    with Store.open() as store:
        result = run_interview(store, term, [], minutes=1, question_count=3, directory=tmp_path,
                               exercise_id="mha_forward", read_line=learner_solves_it)
    assert result.passed and result.verdict == "passed" and (result.cases_passed, result.cases_total) == (MHA_CASES, MHA_CASES)
    assert result.score == 100 and result.question_max == 0 and not result.over_time
    assert "PASSED mha_forward" in buffer.getvalue()
    assert result.to_dict()["exercise"]["points"] == 100


def test_interview_core_time_runs_out_while_coding(tmp_path):
    term, buffer = terminal()
    never = threading.Event()
    started = time.monotonic()
    with Store.open() as store:
        result = run_interview(store, term, load_bank(BASIC).select(), minutes=0.01, question_count=0,
                               directory=tmp_path, exercise_id="mha_forward",
                               read_line=lambda: never.wait(10) and "")
    assert result.coding_timed_out and "Time is up" in buffer.getvalue()
    assert result.verdict == "not_attempted" and result.score == 0
    assert time.monotonic() - started < 5


def test_interview_core_questions_stop_when_their_time_is_up(tmp_path, monkeypatch):
    now = [0.0]

    def clock() -> float:
        now[0] += 30.0  # every look at the clock costs half a minute
        return now[0]

    monkeypatch.setattr("sys.stdin", io.StringIO("b\n64\nb\n1\n1\n"))
    term, buffer = terminal()
    with Store.open() as store:
        result = run_interview(store, term, load_bank(BASIC).select(), minutes=3, question_count=3,
                               directory=tmp_path, exercise_id="mha_forward", seed=0, clock=clock,
                               read_line=lambda: "done\n")
    assert result.questions_timed_out and result.questions_asked < 3
    assert "Time is up for the questions" in buffer.getvalue()


def test_pick_exercise_prefers_the_ones_not_passed():
    import random

    from mhaquiz.practice.interview import pick_exercise

    ids = [exercise.id for exercise in practice.curriculum()]
    with Store.open() as store:
        for exercise_id in ids[:-1]:
            store.record_grade(exercise_id, True, {"score": 1.0})
        assert {pick_exercise(store, None, random.Random(seed)).id for seed in range(20)} == {ids[-1]}
        store.record_grade(ids[-1], True, {"score": 1.0})
        assert pick_exercise(store, None, random.Random(0)).id in ids


# --- stats ----------------------------------------------------------------------------------------


def test_stats_shows_exercises_passed_attempted_and_total(tmp_path):
    good = tmp_path / "good.py"
    good.write_text(reference("mha_forward"), encoding="utf-8")
    assert invoke("grade", str(good)).exit_code == 0
    assert invoke("start", "mha_backward", "--dir", str(tmp_path)).exit_code == 0
    (tmp_path / "mha_backward.py").write_text(stub("mha_backward") + "\n# trying\n", encoding="utf-8")
    assert invoke("grade", str(tmp_path / "mha_backward.py")).exit_code == 1

    stats = json.loads(invoke("stats", "--json", "--bank", str(BASIC)).stdout)
    assert "reviews" in stats
    total = len(all_exercises())
    assert stats["exercise_totals"] == {"passed": 1, "attempted": 1, "not_started": total - 2, "total": total}
    by_id = {exercise["id"]: exercise for exercise in stats["exercises"]}
    assert by_id["mha_forward"]["status"] == "passed" and by_id["mha_forward"]["best"]["cases_passed"] == MHA_CASES
    assert by_id["mha_backward"]["status"] == "attempted" and by_id["mha_forward"]["best_graded_at"]
    assert [e["id"] for e in stats["exercises"]] == ["mha_forward", "mha_backward"]  # learning order

    text = invoke("stats", "--bank", str(BASIC)).stdout
    assert f"Exercises: 1 passed, 1 attempted, {total - 2} not started, of {total}" in text
    assert f"mha_forward: passed (1 attempts) · best: {MHA_CASES}/{MHA_CASES} cases" in text
    assert "mha_backward: attempted (1 attempts) · best: 0/" in text


def test_stats_when_nothing_graded_still_counts_the_exercises():
    stats = json.loads(invoke("stats", "--json", "--bank", str(BASIC)).stdout)
    assert stats["exercises"] == [] and stats["exercise_totals"]["total"] == len(all_exercises())
    assert "0 passed, 0 attempted" in invoke("stats", "--bank", str(BASIC)).stdout


# --- every practice command has help with an example -------------------------------------------


@pytest.mark.parametrize("command", ["list", "start", "hint", "solution", "reset", "watch", "interview"])
def test_every_practice_command_has_help_with_an_example(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0 and f"Example: mhaquiz {command}" in result.stdout


def test_core_start_and_reset_refuse_symlinks(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n", encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    (work / "mha_forward.py").symlink_to(outside)
    with pytest.raises(practice.MhaquizError):
        practice.start("mha_forward", work, force=True)
    with Store.open() as store, pytest.raises(practice.MhaquizError):
        practice.reset(store, "mha_forward", work)
    assert outside.read_text(encoding="utf-8") == "precious\n"
    shutil.rmtree(work)


def test_interview_rejects_a_non_positive_time_limit():
    result = invoke("interview", "--minutes", "0", input="")
    assert result.exit_code == 2 and result.stderr.startswith("Error: --minutes must be positive")


@pytest.mark.parametrize("seen, verdict", [({"left_processes": 1}, "left_processes"),
                                           ({"output_limited": True}, "output_limit_exceeded")])
def test_a_run_that_failed_after_every_case_passed_is_recorded_as_failed(seen, verdict):
    """Every case right, then the run failed as a whole: the store records the run's verdict, not a pass."""
    from mhaquiz.grader import grade
    from mhaquiz.grader.exercises import get_exercise
    from mhaquiz.practice.loop import record_report
    from tests.helpers import judge_frames, planted_frames

    plan = grade._plan(get_exercise("softmax"), 0)
    report = judge_frames([plan], planted_frames(plan), **seen)
    assert report.exercises[0].cases_passed == len(plan.cases) and report.verdict.value == verdict
    with Store.open() as store:
        record_report(store, report)
        progress = store.exercise_progress()["softmax"]
    assert not progress.passed and progress.best["verdict"] == verdict
