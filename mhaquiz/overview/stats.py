"""What `mhaquiz stats` reports, as one JSON-friendly dict (overview/view.py renders it; --json prints it).
It spans questions (the quiz's cards and answers) and exercises (the practice loop's statuses).

- Every count is scoped to the bank's questions, so the totals and the topic rows count the same answers:
  reviews / correct / accuracy: the answers to the bank's questions (cram included; open answers count as
  correct unless rated Again); seen: the bank's questions answered at least once.
- topics: per topic of the bank, how many questions, how many seen, how many learned (FSRS Review state),
  mastery = learned / questions, and the answers and accuracy on its questions (summing to the totals).
- due_today (until local midnight, overdue included) and due_this_week (the next 7 days).
- leeches: questions lapsed at least LEECH_LAPSES times.
- exercises: per exercise and track graded (in learning order, NumPy before PyTorch), its attempts, whether
  it passed, its best result and when that was graded, when it is due for practice again; exercise_totals:
  passed / attempted / not started / total over the registry in NumPy; exercise_totals_by_track: the same
  per track (PyTorch: over the exercises that have a PyTorch form); exercises_due: passed exercises (in
  either track) due today / this week.
- mistakes: the classic mistakes the grader named most often (at most MISTAKES_SHOWN), with their titles;
  each counted once per submission (the same file graded by grade, grade --json and watch is one).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from mhaquiz.quiz.bank import Bank
from mhaquiz.quiz.schedule import LEECH_LAPSES, is_learned, is_leech
from mhaquiz.store import Store


MISTAKES_SHOWN = 5


def collect_stats(store: Store, bank: Bank, now: datetime) -> dict:
    """Progress against `bank` at `now` (timezone-aware)."""
    cards = store.cards()
    answered = store.review_counts()
    reviews = sum(answered.get(q.id, (0, 0))[0] for q in bank.questions)
    correct = sum(answered.get(q.id, (0, 0))[1] for q in bank.questions)
    end_of_today = now.astimezone().replace(hour=23, minute=59, second=59, microsecond=0)
    week_end = now + timedelta(days=7)
    in_bank = [q for q in bank.questions if q.id in cards]
    return {
        "reviews": reviews,
        "correct": correct,
        "accuracy": _share(correct, reviews),
        "questions": len(bank.questions),
        "seen": sum(1 for q in bank.questions if q.id in answered),
        "due_today": sum(1 for q in in_bank if cards[q.id].due <= end_of_today),
        "due_this_week": sum(1 for q in in_bank if cards[q.id].due <= week_end),
        "topics": [_topic_stats(topic, bank, cards, answered) for topic in bank.topics],
        "mistakes": [{"exercise": exercise_id, "mistake": mistake_id, "title": title, "count": count}
                     for exercise_id, mistake_id, title, count in store.mistake_counts()[:MISTAKES_SHOWN]],
        "leech_threshold": LEECH_LAPSES,
        "leeches": [
            {"id": q.id, "topic": q.topic, "lapses": cards[q.id].lapses, "prompt": {"zh": q.prompt("zh"), "en": q.prompt("en")}}
            for q in in_bank
            if is_leech(cards[q.id])
        ],
        **_exercise_stats(store, now, end_of_today, week_end),
    }


def _exercise_stats(store: Store, now: datetime, end_of_today: datetime, week_end: datetime) -> dict:
    """"exercises": every (exercise, track) graded at least once, in learning order (ids no longer in the
    registry last); "exercise_totals" (NumPy) and "exercise_totals_by_track": passed / attempted / not started."""
    from mhaquiz.grader.exercises import TRACKS
    from mhaquiz.practice.loop import curriculum, statuses, totals

    order = {exercise.id: position for position, exercise in enumerate(curriculum())}
    entries, by_track, dues = [], {}, []
    for track in TRACKS:
        rows = [row for row in statuses(store, now, track) if row.track == track]
        by_track[track] = totals(rows)
        due = {row.id: row.due for row in rows}
        dues += [when for when in due.values() if when]
        titles = {row.id: row.title for row in rows}
        for record in store.exercise_progress(track).values():
            entries.append({
                "id": record.exercise_id,
                "track": track,
                "title": titles.get(record.exercise_id),
                "status": "passed" if record.passed else "attempted",
                "attempts": record.attempts,
                "best": record.best,
                "best_graded_at": (record.best_graded_at or record.last_graded_at).isoformat(),
                "last_graded_at": record.last_graded_at.isoformat(),
                "due": due[record.exercise_id].isoformat() if due.get(record.exercise_id) else None,
            })
    entries.sort(key=lambda entry: (order.get(entry["id"], len(order)), entry["id"], TRACKS.index(entry["track"])))
    return {
        "exercises": entries,
        "exercise_totals": by_track["numpy"],
        "exercise_totals_by_track": by_track,
        "exercises_due": {"today": sum(1 for due in dues if due <= end_of_today),
                          "week": sum(1 for due in dues if due <= week_end)},
    }


def _topic_stats(topic: str, bank: Bank, cards: dict, answered: dict[str, tuple[int, int]]) -> dict:
    questions = [q for q in bank.questions if q.topic == topic]
    learned = sum(1 for q in questions if is_learned(cards.get(q.id)))
    count = sum(answered.get(q.id, (0, 0))[0] for q in questions)
    correct = sum(answered.get(q.id, (0, 0))[1] for q in questions)
    title = bank.topic_titles.get(topic)
    return {
        "topic": topic,
        "title": {"zh": title("zh"), "en": title("en")} if title else None,
        "questions": len(questions),
        "seen": sum(1 for q in questions if q.id in answered),
        "learned": learned,
        "mastery": _share(learned, len(questions)),
        "reviews": count,
        "accuracy": _share(correct, count),
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
