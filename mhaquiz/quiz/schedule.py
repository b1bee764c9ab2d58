"""Spaced repetition with FSRS (the `fsrs` package, v6), behind the few functions the quiz needs.

- Which questions a session asks (`plan_session`): first those a mistake named by the grader brought forward
  (`boosts`), then the due ones, most overdue first, then new ones (easy before hard, topics interleaved),
  capped at `count`. Cram mode takes any question, shuffled.
- What a rating does (`review`) and what each rating would do (`preview`), so each button can say when the
  question comes back. Objective questions are rated for the learner: right = Good, wrong = Again.
- Fuzzing is off: intervals are exactly what the buttons promised.
- A lapse is an Again on a question already reviewed before; LEECH_LAPSES lapses make it a leech.

The store keeps a `CardRecord` per question; FSRS's own Card is built from it only here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from fsrs import Card, Rating, Scheduler, State

from mhaquiz.quiz.bank import DIFFICULTIES, Question
from mhaquiz.store import CardRecord

__all__ = ["Rating", "LEECH_LAPSES", "PlannedQuestion", "plan_session", "next_due", "preview", "review", "review_exercise",
           "is_learned", "is_leech"]

LEECH_LAPSES = 4
_SCHEDULER = Scheduler(enable_fuzzing=False)
# A coding exercise passed is graded, not self-rated: the learner wrote working code. The flashcard
# learning steps (1 and 10 minutes after a first answer) would ask for the same code again in 10 minutes,
# which tests short-term memory, not retention. Without learning steps a first pass goes straight to
# review with FSRS's initial stability for Good (w[2], about 2.3 days): it comes back in 2 days, then at
# growing intervals. A failed review keeps the relearning step (10 minutes): it stays due until passed.
_EXERCISE_SCHEDULER = Scheduler(enable_fuzzing=False, learning_steps=())


@dataclass(frozen=True)
class PlannedQuestion:
    """A question chosen for this session, and why: "boost", "due", "new", "cram" or "again" (rated Again
    earlier in this session and due again)."""

    question: Question
    reason: str


def plan_session(
    questions: list[Question],
    cards: dict[str, CardRecord],
    now: datetime,
    count: int,
    cram: bool = False,
    rng: random.Random | None = None,
    boosts: dict[str, str] | None = None,
) -> list[PlannedQuestion]:
    """Up to `count` questions: brought forward by a mistake (in the order the mistakes were named), then due
    (most overdue first), then new; or, cramming, any of them shuffled."""
    if cram:
        chosen = list(questions)
        (rng or random.Random()).shuffle(chosen)
        return [PlannedQuestion(question, "cram") for question in chosen[:count]]
    by_id = {question.id: question for question in questions}
    boosted = [by_id[question_id] for question_id in (boosts or {}) if question_id in by_id]
    taken = {question.id for question in boosted}
    due = sorted(
        (question for question in questions
         if question.id in cards and cards[question.id].due <= now and question.id not in taken),
        key=lambda question: cards[question.id].due,
    )
    new = _interleave_new([question for question in questions if question.id not in cards and question.id not in taken])
    planned = ([PlannedQuestion(q, "boost") for q in boosted] + [PlannedQuestion(q, "due") for q in due]
               + [PlannedQuestion(q, "new") for q in new])
    return planned[:count]


def _interleave_new(questions: list[Question]) -> list[Question]:
    """Easy before medium before hard; within a difficulty, one question per topic in turn (bank order)."""
    position_in_topic: dict[tuple[str, str], int] = {}
    keyed = []
    for order, question in enumerate(questions):
        slot = (question.topic, question.difficulty)
        position = position_in_topic.get(slot, 0)
        position_in_topic[slot] = position + 1
        keyed.append(((DIFFICULTIES.index(question.difficulty), position, order), question))
    return [question for _, question in sorted(keyed, key=lambda pair: pair[0])]


def next_due(cards: dict[str, CardRecord], question_ids: set[str]) -> datetime | None:
    """When the earliest of these questions falls due, if any has been seen."""
    dues = [card.due for qid, card in cards.items() if qid in question_ids]
    return min(dues, default=None)


def preview(card: CardRecord | None, now: datetime) -> dict[Rating, datetime]:
    """When the question would come back after each rating."""
    current = _to_fsrs(card, now)
    return {rating: _SCHEDULER.review_card(current, rating, now)[0].due for rating in Rating}


def review_exercise(card: CardRecord | None, exercise_id: str, rating: Rating, now: datetime) -> CardRecord:
    """A coding exercise's record after a grade at `now` (passed: Good; failed: Again), on the exercise
    scheduler (no learning steps: a first pass comes back in days)."""
    return review(card, exercise_id, rating, now, scheduler=_EXERCISE_SCHEDULER)


def review(card: CardRecord | None, question_id: str, rating: Rating, now: datetime,
           scheduler: Scheduler = _SCHEDULER) -> CardRecord:
    """The question's record after being rated `rating` at `now`."""
    updated, _ = scheduler.review_card(_to_fsrs(card, now), rating, now)
    lapsed = card is not None and rating == Rating.Again
    return CardRecord(
        question_id=question_id,
        state=int(updated.state),
        step=updated.step,
        stability=updated.stability,
        difficulty=updated.difficulty,
        due=updated.due,
        last_review=updated.last_review,
        reps=(card.reps if card else 0) + 1,
        lapses=(card.lapses if card else 0) + int(lapsed),
    )


def is_learned(card: CardRecord | None) -> bool:
    """Graduated to FSRS's Review state: recalled across the learning steps and not forgotten since."""
    return card is not None and card.state == State.Review


def is_leech(card: CardRecord | None) -> bool:
    return card is not None and card.lapses >= LEECH_LAPSES


def _to_fsrs(card: CardRecord | None, now: datetime) -> Card:
    if card is None:
        return Card(card_id=0, due=now)  # an explicit id: Card() would sleep 1 ms to make one up
    return Card(
        card_id=0,
        state=State(card.state),
        step=card.step,
        stability=card.stability,
        difficulty=card.difficulty,
        due=card.due,
        last_review=card.last_review,
    )

