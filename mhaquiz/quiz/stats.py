"""What `mhaquiz stats` reports, as one JSON-friendly dict (the CLI renders it or prints it as JSON).

- reviews / correct / accuracy: every answer recorded (cram included); open answers count as correct
  unless rated Again.
- topics: per topic of the bank, how many questions, how many seen, how many learned (FSRS Review state),
  mastery = learned / questions, and the topic's accuracy.
- due_today (until local midnight, overdue included) and due_this_week (the next 7 days).
- leeches: questions lapsed at least LEECH_LAPSES times.
- exercises: per exercise graded, its attempts, whether it passed and its best result.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from mhaquiz.quiz.bank import Bank
from mhaquiz.quiz.schedule import LEECH_LAPSES, is_learned, is_leech
from mhaquiz.store import Store


def collect_stats(store: Store, bank: Bank, now: datetime) -> dict:
    """Progress against `bank` at `now` (timezone-aware)."""
    cards = store.cards()
    totals = store.review_totals()
    reviews = sum(count for count, _ in totals.values())
    correct = sum(right for _, right in totals.values())
    end_of_today = now.astimezone().replace(hour=23, minute=59, second=59, microsecond=0)
    week_end = now + timedelta(days=7)
    in_bank = [q for q in bank.questions if q.id in cards]
    return {
        "reviews": reviews,
        "correct": correct,
        "accuracy": _share(correct, reviews),
        "questions": len(bank.questions),
        "seen": len(in_bank),
        "due_today": sum(1 for q in in_bank if cards[q.id].due <= end_of_today),
        "due_this_week": sum(1 for q in in_bank if cards[q.id].due <= week_end),
        "topics": [_topic_stats(topic, bank, cards, totals.get(topic, (0, 0))) for topic in bank.topics],
        "leech_threshold": LEECH_LAPSES,
        "leeches": [
            {"id": q.id, "topic": q.topic, "lapses": cards[q.id].lapses, "prompt": {"zh": q.prompt.zh, "en": q.prompt.en}}
            for q in in_bank
            if is_leech(cards[q.id])
        ],
        "exercises": [
            {
                "id": progress.exercise_id,
                "status": "passed" if progress.passed else "attempted",
                "attempts": progress.attempts,
                "best": progress.best,
                "last_graded_at": progress.last_graded_at.isoformat(),
            }
            for progress in store.exercise_progress().values()
        ],
    }


def _topic_stats(topic: str, bank: Bank, cards: dict, totals: tuple[int, int]) -> dict:
    questions = [q for q in bank.questions if q.topic == topic]
    learned = sum(1 for q in questions if is_learned(cards.get(q.id)))
    count, correct = totals
    return {
        "topic": topic,
        "questions": len(questions),
        "seen": sum(1 for q in questions if q.id in cards),
        "learned": learned,
        "mastery": _share(learned, len(questions)),
        "reviews": count,
        "accuracy": _share(correct, count),
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
