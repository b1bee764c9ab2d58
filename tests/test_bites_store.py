"""Practice order and the store's records at their edges: what comes next after a pass, due exercises first,
a due date reached exactly, and the best attempt among equals."""

from datetime import datetime, timedelta, timezone

from mhaquiz.practice.loop import ATTEMPTED, NOT_STARTED, PASSED, ExerciseStatus, next_exercise, statuses
from mhaquiz.quiz.schedule import Rating, review_exercise
from mhaquiz.store import Store

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)


def row(exercise_id: str, status: str, due=None, is_due=False) -> ExerciseStatus:
    return ExerciseStatus(id=exercise_id, position=0, order=None, title={"zh": exercise_id, "en": exercise_id},
                          status=status, attempts=0, best=None, best_graded_at=None, last_graded_at=None,
                          hints_shown=0, hints_total=0, due=due, is_due=is_due)


def test_after_a_pass_the_next_is_the_first_unpassed_one_after_it_wrapping_around():
    rows = [row("a", NOT_STARTED), row("b", PASSED), row("c", ATTEMPTED), row("d", PASSED), row("e", PASSED)]
    assert next_exercise(rows, after="c").id == "a"  # after c: d and e are passed, so round to a
    assert next_exercise(rows, after="a").id == "c"
    assert next_exercise(rows).id == "a"


def test_the_exercise_just_done_is_never_next_even_when_not_passed_or_due():
    rows = [row("a", ATTEMPTED, due=T0, is_due=True), row("b", PASSED)]
    assert next_exercise(rows, after="a") is None
    rows = [row("a", ATTEMPTED), row("b", NOT_STARTED)]
    assert next_exercise(rows, after="a").id == "b"


def test_a_due_exercise_comes_before_the_learning_order_the_earliest_due_first():
    rows = [row("a", NOT_STARTED), row("b", PASSED, due=T0 + timedelta(hours=2), is_due=True),
            row("c", PASSED, due=T0 + timedelta(hours=1), is_due=True), row("d", PASSED, due=T0, is_due=False)]
    assert next_exercise(rows).id == "c"
    assert next_exercise(rows, after="c").id == "b"


def test_an_exercise_is_due_from_the_very_moment_of_its_due_date():
    with Store.open() as store:
        card = review_exercise(None, "softmax", Rating.Good, T0)  # a first pass, as the practice loop records it
        store.record_grade("softmax", True, {"score": 1.0}, graded_at=T0, card=card)
        rows = {r.id: r for r in statuses(store, now=T0)}
        due = rows["softmax"].due
        assert due is not None and due > T0
        assert not {r.id: r for r in statuses(store, now=due - timedelta(seconds=1))}["softmax"].is_due
        assert {r.id: r for r in statuses(store, now=due)}["softmax"].is_due


def test_a_pass_is_the_best_attempt_even_with_a_lower_score_and_of_equals_the_latest():
    with Store.open() as store:
        store.record_grade("softmax", False, {"score": 0.9, "n": 1}, graded_at=T0)
        store.record_grade("softmax", True, {"score": 0.5, "n": 2}, graded_at=T0 + timedelta(minutes=1))
        store.record_grade("softmax", False, {"score": 0.99, "n": 3}, graded_at=T0 + timedelta(minutes=2))
        store.record_grade("softmax", True, {"score": 0.5, "n": 4}, graded_at=T0 + timedelta(minutes=3))
        best = store.exercise_progress()["softmax"]
    assert best.best["n"] == 4 and best.passed and best.attempts == 4
