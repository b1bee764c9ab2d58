"""`mhaquiz stats`: totals, mastery per topic, what is due, leeches and exercises."""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from typer.testing import CliRunner

from mhaquiz.cli import app
from mhaquiz.quiz.bank import load_bank
from mhaquiz.quiz.schedule import LEECH_LAPSES, Rating, review
from mhaquiz.overview.stats import collect_stats
from mhaquiz.store import ReviewRecord, Store

BASIC = Path(__file__).parent / "banks" / "basic"
ENGLISH = {"LC_ALL": "", "LC_MESSAGES": "", "LANG": "en_US.UTF-8"}
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
runner = CliRunner()


def answer(store: Store, question_id: str, topic: str, rating: Rating, when: datetime) -> None:
    """Record one scheduled answer the way a session does."""
    card = review(store.cards().get(question_id), question_id, rating, when)
    store.record_review(ReviewRecord(question_id, topic, int(rating), rating != Rating.Again, "", False, when), card)


def test_empty_stats_json_has_reviews_and_an_exercises_section():
    result = runner.invoke(app, ["stats", "--json", "--bank", str(BASIC)])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["reviews"] == 0 and stats["accuracy"] is None
    assert stats["exercises"] == [] and stats["leeches"] == []
    assert [t["topic"] for t in stats["topics"]] == ["attention", "parameters"]


def test_totals_mastery_and_due_counts():
    bank = load_bank(BASIC)
    with Store.open() as store:
        answer(store, "att-scale", "attention", Rating.Easy, T0)  # graduates at once: learned, due in days
        answer(store, "att-properties", "attention", Rating.Again, T0)  # due in a minute
        answer(store, "param-dhead", "parameters", Rating.Good, T0)  # due in ten minutes
        stats = collect_stats(store, bank, T0 + timedelta(minutes=5))
        later = collect_stats(store, bank, T0 + timedelta(days=30))
    assert (stats["reviews"], stats["correct"], stats["accuracy"]) == (3, 2, 0.6667)
    assert stats["seen"] == 3 and stats["questions"] == 5
    attention = next(t for t in stats["topics"] if t["topic"] == "attention")
    assert attention == {
        "topic": "attention", "title": None, "questions": 3, "seen": 2, "learned": 1, "mastery": 0.3333, "reviews": 2,
        "accuracy": 0.5,
    }
    assert stats["due_today"] == 2  # att-properties and param-dhead; Easy sent att-scale 8 days away
    assert stats["due_this_week"] == 2
    assert later["due_today"] == 3


def test_a_question_lapsed_often_is_a_leech():
    bank = load_bank(BASIC)
    with Store.open() as store:
        when = T0
        answer(store, "att-scale", "attention", Rating.Again, when)  # first sight: not a lapse
        assert LEECH_LAPSES == 4  # as README.md and stats say: a question lapsed 4 times is a leech
        for _ in range(3):
            when += timedelta(days=1)
            answer(store, "att-scale", "attention", Rating.Again, when)
        assert collect_stats(store, bank, when)["leeches"] == []
        when += timedelta(days=1)
        answer(store, "att-scale", "attention", Rating.Again, when)
        leeches = collect_stats(store, bank, when)["leeches"]
    assert [(leech["id"], leech["lapses"]) for leech in leeches] == [("att-scale", 4)]


def test_stats_report_after_a_session_and_a_grade():
    runner.invoke(app, ["ask", "--bank", str(BASIC), "--lang", "en", "--topic", "attention"], input="b\nkeys\n\n3\nc\n")
    with Store.open() as store:
        store.record_grade("softmax", True, {"score": 1.0})
    result = runner.invoke(app, ["stats", "--bank", str(BASIC)], env=ENGLISH)
    assert result.exit_code == 0, result.output
    assert "3 answers, 67% right; 3/5 questions seen" in result.stdout
    assert "attention" in result.stdout and "parameters" in result.stdout
    assert "softmax: passed (1 attempts)" in result.stdout
    stats = json.loads(runner.invoke(app, ["stats", "--json", "--bank", str(BASIC)]).stdout)
    assert stats["reviews"] == 3
    assert stats["exercises"][0]["id"] == "softmax" and stats["exercises"][0]["status"] == "passed"


def test_every_command_has_help_with_an_example():
    for command in ("ask", "questions", "stats"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0
        assert "Example: mhaquiz " + command in result.stdout


def test_totals_and_topic_rows_count_the_same_answers():
    """Answers to another bank's questions are not this bank's; a cram answer is an answer and its question
    is seen: the totals line and the topic rows add up to the same numbers."""
    bank = load_bank(BASIC)
    with Store.open() as store:
        answer(store, "att-scale", "attention", Rating.Good, T0)
        answer(store, "att-scale", "attention", Rating.Again, T0 + timedelta(minutes=20))
        store.record_review(ReviewRecord("param-dhead", "parameters", 3, True, "64", True, T0), None)  # cram
        answer(store, "someone-elses", "attention", Rating.Good, T0)  # from another bank, same topic name
        stats = collect_stats(store, bank, T0 + timedelta(hours=1))
    assert (stats["reviews"], stats["correct"], stats["seen"]) == (3, 2, 2)
    rows = {row["topic"]: (row["reviews"], row["seen"], row["accuracy"]) for row in stats["topics"]}
    assert rows == {"attention": (2, 1, 0.5), "parameters": (1, 1, 1.0)}
    text = runner.invoke(app, ["stats", "--bank", str(BASIC)], env=ENGLISH).stdout
    assert "3 answers, 67% right; 2/5 questions seen" in text
