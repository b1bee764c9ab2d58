"""One `mhaquiz ask` session: plan the questions, ask each, mark or let the learner rate, save at once.

Ratings (FSRS): an mcq or numeric answer is marked for the learner, right = Good, wrong = Again;
an open answer is rated by the learner (Again / Hard / Good / Easy) after seeing the reference.
Every answer is saved the moment it is given; the end of piped input or Ctrl-C stops the session with
nothing lost but the answer being typed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from mhaquiz.i18n import format_interval, t
from mhaquiz.quiz.bank import Question
from mhaquiz.quiz.marking import Asked, covered_key_points, instantiate, number_matches, parse_choices, parse_number
from mhaquiz.quiz.schedule import PlannedQuestion, Rating, next_due, plan_session, preview, review
from mhaquiz.quiz.ui import Terminal, parse_rating
from mhaquiz.store import ReviewRecord, Store


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Outcome:
    """One answered question."""

    question_id: str
    rating: Rating
    correct: bool


@dataclass
class SessionResult:
    """What happened: the answers given, and how the session ended."""

    planned: int
    started_at: datetime
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False  # Ctrl-C
    next_due: datetime | None = None  # set when nothing was due


class Session:
    """Asks planned questions through a Terminal and records every answer in a Store."""

    def __init__(
        self,
        store: Store,
        terminal: Terminal,
        *,
        cram: bool = False,
        seed: int | None = None,
        clock: Callable[[], datetime] = utc_now,
    ):
        self.store = store
        self.terminal = terminal
        self.lang = terminal.lang
        self.cram = cram
        self.rng = random.Random(seed)
        self.clock = clock

    def run(self, questions: list[Question], count: int) -> SessionResult:
        """Ask up to `count` of `questions`; returns at the end, at the end of input, or on Ctrl-C."""
        now = self.clock()
        cards = self.store.cards()
        plan = plan_session(questions, cards, now, count, cram=self.cram, rng=self.rng)
        result = SessionResult(planned=len(plan), started_at=now)
        if not plan:
            result.next_due = next_due(cards, {q.id for q in questions})
            return result
        try:
            for index, planned in enumerate(plan, start=1):
                result.outcomes.append(self._ask(planned, index, len(plan)))
        except EOFError:
            pass
        except KeyboardInterrupt:
            result.interrupted = True
        return result

    def _ask(self, planned: PlannedQuestion, index: int, total: int) -> Outcome:
        question = planned.question
        asked = instantiate(question, self.rng)
        self.terminal.show_question(asked, index, total, planned.reason)
        card = self.store.card(question.id)  # read now: another session may have answered it meanwhile
        if question.type == "open":
            answer = self.terminal.read_line(t("answer_prompt", self.lang))
            self.terminal.show_open_review(asked, answer, covered_key_points(answer, question.key_points))
            rating = self._read_rating(card)
            correct = rating != Rating.Again
        else:
            answer, correct = self._read_marked(asked)
            rating = Rating.Good if correct else Rating.Again
        now = self.clock()
        new_card = None if self.cram else review(card, question.id, rating, now)
        self.store.record_review(
            ReviewRecord(question.id, question.topic, int(rating), correct, answer, self.cram, now), new_card
        )
        if question.type != "open":
            self.terminal.show_marked(asked, correct)
        self.terminal.show_next(format_interval((new_card.due - now).total_seconds(), self.lang) if new_card else None)
        return Outcome(question.id, rating, correct)

    def _read_marked(self, asked: Asked) -> tuple[str, bool]:
        """Read an mcq or numeric answer until it parses (an empty line means "I don't know": wrong)."""
        question = asked.question
        while True:
            answer = self.terminal.read_line(t("answer_prompt", self.lang)).strip()
            if not answer:
                return answer, False
            if question.type == "mcq":
                chosen = parse_choices(answer, question.choices)
                if chosen is not None:
                    return answer, chosen == question.correct_choices
                self.terminal.warn(t("invalid_choice", self.lang, choices=", ".join(question.choices)))
            else:
                number = parse_number(answer, question.numeric.unit)
                if number is not None:
                    return answer, number_matches(number, asked.expected, question.numeric.tolerance)
                self.terminal.warn(t("invalid_number", self.lang, text=answer))

    def _read_rating(self, card) -> Rating:
        """Show the four buttons (with when each brings the question back) and read one."""
        when = None
        if not self.cram:
            now = self.clock()
            when = {
                int(rating): format_interval((due - now).total_seconds(), self.lang)
                for rating, due in preview(card, now).items()
            }
        self.terminal.show_buttons(when)
        while True:
            rating = parse_rating(self.terminal.read_line(t("rate_prompt", self.lang)))
            if rating is not None:
                return Rating(rating)
            self.terminal.warn(t("invalid_rating", self.lang))


def summarize(result: SessionResult, terminal: Terminal, saved_to: str) -> None:
    """The end-of-session summary (or, when nothing was due, when to come back)."""
    lang = terminal.lang
    if result.planned == 0:
        when = ""
        if result.next_due is not None:
            wait = max(0.0, (result.next_due - result.started_at).total_seconds())
            when = t("next_due", lang, when=format_interval(wait, lang))
        terminal.message(t("nothing_due", lang, next=when))
        return
    ratings: dict[int, int] = {}
    for outcome in result.outcomes:
        ratings[int(outcome.rating)] = ratings.get(int(outcome.rating), 0) + 1
    terminal.show_summary(
        answered=len(result.outcomes),
        recalled=sum(outcome.correct for outcome in result.outcomes),
        ratings=ratings,
        missed=[outcome.question_id for outcome in result.outcomes if not outcome.correct],
        saved_to=saved_to,
    )
