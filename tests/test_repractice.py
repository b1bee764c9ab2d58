"""Exercises come back: a passed exercise is scheduled by FSRS over its grade outcomes; once due, `start`
writes a fresh stub and keeps the earlier file. And the two halves talk: a mistake the grader names brings
the questions about it forward in `ask`, and `stats` shows the mistakes made most often."""

import json
import re
from datetime import datetime, timedelta

import pytest
from typer.testing import CliRunner

from mhaquiz import clock
from mhaquiz.practice import loop as practice
from mhaquiz.cli import app
from mhaquiz.grader.exercises import get_exercise
from mhaquiz.quiz.bank import load_bank
from mhaquiz.store import Store
from tests.helpers import reference_source, with_edits

runner = CliRunner()
ENGLISH = {"LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": "", "LANG": "en_US.UTF-8"}
STUB = get_exercise("softmax").stub_path.read_text(encoding="utf-8")


@pytest.fixture
def time_travel(monkeypatch):
    """Move mhaquiz's clock forward by `days` (the schedule reads mhaquiz.clock.now)."""
    real = clock.now
    offset = [timedelta(0)]
    monkeypatch.setattr(clock, "now", lambda: real() + offset[0])

    def travel(days: float) -> None:
        offset[0] += timedelta(days=days)

    return travel


def invoke(*args, input=None):
    return runner.invoke(app, [str(arg) for arg in args], input=input, env=ENGLISH)


def row(exercise_id):
    return {item["id"]: item for item in json.loads(invoke("list", "--json").stdout)}[exercise_id]


def test_a_passed_exercise_comes_back_and_start_keeps_the_earlier_file(tmp_path, time_travel):
    work = tmp_path / "work"
    assert invoke("start", "softmax", "--dir", work).exit_code == 0
    mine = work / "softmax.py"
    mine.write_text(reference_source("softmax"), encoding="utf-8")
    assert invoke("grade", mine).exit_code == 0
    first = row("softmax")
    assert first["due"] is not None and first["is_due"] is False
    assert "again in " in invoke("list").stdout

    kept = invoke("start", "softmax", "--dir", work)  # not due yet: the file stays as it is
    assert "already exists: kept as it is" in kept.stdout and mine.read_text(encoding="utf-8") == reference_source("softmax")

    time_travel(60)
    due = row("softmax")
    assert due["is_due"] is True
    listing = invoke("list").stdout
    assert re.search(r"softmax\s+passed\s+due now", listing) and "Due for practice again: mhaquiz start softmax" in listing

    renewed = invoke("start", "softmax", "--dir", work)
    assert renewed.exit_code == 0
    assert mine.read_text(encoding="utf-8") == STUB  # a fresh stub to write from memory
    [aside] = [path for path in work.iterdir() if path.name != "softmax.py"]
    assert aside.read_text(encoding="utf-8") == reference_source("softmax")  # the earlier work, kept
    assert f"Practising again: your earlier file is kept as {aside}" in renewed.stdout

    mine.write_text(reference_source("softmax"), encoding="utf-8")
    assert invoke("grade", mine).exit_code == 0
    after = row("softmax")
    assert after["is_due"] is False and after["due"] > due["due"]  # reviewed: it comes back later than before
    stats = json.loads(invoke("stats", "--json").stdout)
    assert [e["attempts"] for e in stats["exercises"] if e["id"] == "softmax"] == [2]


def test_failing_a_due_exercise_brings_it_back_soon_and_grades_before_it_is_due_change_nothing(tmp_path, time_travel):
    mine = tmp_path / "softmax.py"
    mine.write_text(reference_source("softmax"), encoding="utf-8")
    assert invoke("grade", mine).exit_code == 0
    scheduled = row("softmax")["due"]
    broken = tmp_path / "broken.py"
    broken.write_text(with_edits(reference_source("softmax"), ("x.max(axis=axis, keepdims=True)", "x.max()")), encoding="utf-8")
    assert invoke("grade", broken, "-e", "softmax").exit_code == 1  # not due: practising early
    assert row("softmax")["due"] == scheduled
    time_travel(60)
    assert invoke("grade", broken, "-e", "softmax").exit_code == 1  # due, and forgotten: Again
    with Store.open() as store:
        card = store.exercise_cards()["softmax"]
    assert card.lapses == 1 and card.due - clock.now() < timedelta(hours=1)  # a lapse, relearning: back within minutes


def test_a_named_mistake_brings_its_questions_forward_in_ask(tmp_path):
    buggy = tmp_path / "mha.py"
    buggy.write_text(with_edits(reference_source("mha_forward"), ("(Q / np.sqrt(dh))", "Q")), encoding="utf-8")
    assert invoke("grade", buggy).exit_code == 1
    related = get_exercise("mha_forward").checks().MUTANTS[0].related  # no_scale
    assert related == ("attn-why-scale-sqrt-dk", "attn-dot-product-std")
    result = invoke("ask", "--count", "1", "--lang", "en", input="\n\n\n")
    question = load_bank().by_id()[related[0]]
    assert question.prompt("en").splitlines()[0] in result.stdout
    assert "· after a grading mistake ==" in result.stdout
    with Store.open() as store:
        assert related[0] not in store.boosts() and related[1] in store.boosts()  # answered: no longer forward


def test_stats_shows_the_mistakes_made_most_often(tmp_path):
    for name, edit, note in (("a.py", ("(Q / np.sqrt(dh))", "Q"), ""), ("b.py", ("(Q / np.sqrt(dh))", "Q"), "# again\n"),
                             ("c.py", ("allowed = True if mask is None else mask", "allowed = True"), "")):
        path = tmp_path / name
        path.write_text(note + with_edits(reference_source("mha_forward"), edit), encoding="utf-8")
        assert invoke("grade", path).exit_code == 1
    stats = json.loads(invoke("stats", "--json").stdout)
    assert [(m["mistake"], m["count"]) for m in stats["mistakes"]] == [("no_scale", 2), ("mask_ignored", 1)]
    text = invoke("stats").stdout
    assert "Your most frequent mistakes" in text and "2× scores not scaled by 1/sqrt(d_head) (mha_forward)" in text
    chinese = invoke("stats", "--lang", "zh").stdout
    assert "2 次：分数没有乘以 1/sqrt(d_head)（mha_forward）" in chinese


def test_the_schedule_through_the_core_api(tmp_path):
    from mhaquiz.grader.grade import grade_file

    now = clock.now()
    path = tmp_path / "softmax.py"
    path.write_text(reference_source("softmax"), encoding="utf-8")
    report = grade_file(path)
    with Store.open() as store:
        practice.record_report(store, report, now=now)
        first = store.exercise_cards()["softmax"]
        assert first.reps == 1 and first.due > now
        practice.record_report(store, report, now=now + timedelta(minutes=1))  # early: unchanged
        assert store.exercise_cards()["softmax"] == first
        practice.record_report(store, report, now=first.due)
        second = store.exercise_cards()["softmax"]
    assert second.reps == 2 and second.due - first.due > first.due - now


def test_a_mistake_is_counted_once_per_submission_however_it_is_graded(tmp_path):
    """The same file graded by grade, grade --json and watch is one submission; an edit makes another."""
    path = tmp_path / "mha.py"
    path.write_text(with_edits(reference_source("mha_forward"), ("(Q / np.sqrt(dh))", "Q")), encoding="utf-8")
    assert invoke("grade", path).exit_code == 1
    assert invoke("grade", path, "--json").exit_code == 1
    assert invoke("watch", path, "--stop-after", "0").exit_code == 1
    copy = tmp_path / "same.py"  # the same content under another name: still the same submission
    copy.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    assert invoke("grade", copy, "-e", "mha_forward").exit_code == 1

    def counted():
        return [(m["mistake"], m["count"]) for m in json.loads(invoke("stats", "--json").stdout)["mistakes"]]

    assert counted() == [("no_scale", 1)]
    with Store.open() as store:  # every grade is still recorded
        assert store.exercise_progress()["mha_forward"].attempts == 4
    path.write_text("# tried again\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    assert invoke("grade", path).exit_code == 1
    assert counted() == [("no_scale", 2)]


def test_a_passed_exercise_comes_back_in_two_days_not_minutes(tmp_path):
    """A pass is graded evidence, not a flashcard just seen: no 1- and 10-minute learning steps; FSRS's
    initial stability for Good (w[2] = 2.3065 days, rounded to whole days) sets the first interval."""
    now = clock.now()
    path = tmp_path / "softmax.py"
    path.write_text(reference_source("softmax"), encoding="utf-8")
    result = invoke("grade", path)
    assert result.exit_code == 0
    due = datetime.fromisoformat(row("softmax")["due"])
    assert timedelta(days=2, seconds=-1) <= due - now < timedelta(days=2, minutes=5)  # stored to the second
    assert re.search(r"softmax\s+passed\s+again in 2d", invoke("list").stdout)
