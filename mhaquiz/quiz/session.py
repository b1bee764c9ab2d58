"""One `mhaquiz ask` session: plan the questions, ask each, mark or let the learner rate, save at once.

Ratings (FSRS): an mcq or numeric answer is marked for the learner, right = Good, wrong = Again; an empty
answer means "I don't know" (Again); an open answer is rated by the learner (Again / Hard / Good / Easy)
after seeing the reference and ticking the key points they covered (what the program found in the answer
is pre-ticked; Enter keeps it), which suggest a rating (Enter at the rating takes it).
- Every answer is saved the moment it is given. The end of piped input or Ctrl-C stops the session with
  nothing lost but the answer being typed; an open answer already compared with the reference but not yet
  rated is saved as Again (it comes back soon, which is what a learner who stopped there needs).
- A question rated Again comes back later in the same session once it is due again (FSRS's learning steps:
  a minute for a new card); those still waiting when the session ends are listed with when they are due.
- A question written in one language only is asked in that language, whatever the session's language.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from mhaquiz import clock
from mhaquiz.i18n import format_interval, t
from mhaquiz.quiz.bank import Question
from mhaquiz.quiz.marking import (Asked, covered_key_points, instantiate, number_matches, parse_choices, parse_number,
                                  parse_ticks, suggested_rating)
from mhaquiz.quiz.schedule import PlannedQuestion, Rating, next_due, plan_session, preview, review
from mhaquiz.quiz.ui import RATING_KEYS, Terminal, parse_rating
from mhaquiz.store import ReviewRecord, Store

AGAIN_WINDOW = timedelta(minutes=15)  # a question rated Again and due within this is kept for this session


def utc_now() -> datetime:
    return clock.now()


@dataclass
class Outcome:
    """One answered question."""

    question_id: str
    rating: Rating
    correct: bool
    title: str = ""  # the prompt's first line, as the summary shows it


@dataclass
class SessionResult:
    """What happened: the answers given, and how the session ended."""

    planned: int
    started_at: datetime
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False  # Ctrl-C
    next_due: datetime | None = None  # set when nothing was due
    waiting: list[tuple[str, datetime]] = field(default_factory=list)  # rated Again, due after the session
    ended_at: datetime | None = None


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
        """Ask up to `count` of `questions` (plus those rated Again, once due); returns at the end, at the
        end of input, or on Ctrl-C."""
        now = self.clock()
        cards = self.store.cards()
        boosts = None if self.cram else self.store.boosts()
        plan = plan_session(questions, cards, now, count, cram=self.cram, rng=self.rng, boosts=boosts)
        result = SessionResult(planned=len(plan), started_at=now)
        if not plan:
            result.next_due = next_due(cards, {q.id for q in questions})
            return result
        queue = list(plan)
        again: list[tuple[datetime, Question]] = []
        self.saved_on_stop: Outcome | None = None
        try:
            while queue or again:
                now = self.clock()
                ready = [item for item in again if item[0] <= now]
                if ready:
                    item = min(ready, key=lambda pair: pair[0])
                    again.remove(item)
                    planned = PlannedQuestion(item[1], "again")
                elif queue:
                    planned = queue.pop(0)
                else:
                    break
                outcome, due = self._ask(planned, len(result.outcomes) + 1, len(plan) + len(again))
                result.outcomes.append(outcome)
                if outcome.rating == Rating.Again and due is not None and due - self.clock() <= AGAIN_WINDOW:
                    again.append((due, planned.question))
        except EOFError:
            pass
        except KeyboardInterrupt:
            result.interrupted = True
        if self.saved_on_stop is not None:  # the answer kept as Again when the session stopped at the rating
            result.outcomes.append(self.saved_on_stop)
        result.waiting = [(question.id, due) for due, question in sorted(again, key=lambda pair: pair[0])]
        result.ended_at = self.clock()
        return result

    def _ask(self, planned: PlannedQuestion, index: int, total: int) -> tuple[Outcome, datetime | None]:
        question = planned.question
        lang = question.language_for(self.lang)
        asked = instantiate(question, self.rng, lang)
        self.terminal.show_question(asked, index, total, planned.reason)
        card = self.store.card(question.id)  # read now: another session may have answered it meanwhile
        title = first_line(asked.prompt(lang))
        if question.type == "open":
            answer = self.terminal.read_line(t("answer_prompt", self.lang))
            found = covered_key_points(answer, question.key_points)
            self.terminal.show_open_review(asked, answer, found)
            try:
                suggested = None
                if question.key_points:  # the learner ticks what they covered; the ticks suggest a rating
                    ticked = self._read_ticks(found)
                    suggested = suggested_rating(ticked)
                    self.terminal.show_ticks(ticked, Rating(suggested))
                rating = self._read_rating(card, suggested)
            except (KeyboardInterrupt, EOFError):  # compared but not rated: kept, as Again, and counted
                self._record(question, card, Rating.Again, False, answer)
                self.saved_on_stop = Outcome(question.id, Rating.Again, False, title)
                raise
            correct = rating != Rating.Again
        else:
            answer, correct, value = self._read_marked(asked)
            rating = Rating.Good if correct else Rating.Again
        new_card = self._record(question, card, rating, correct, answer)
        if question.type != "open":
            self.terminal.show_marked(asked, correct, answer, value)
        # the interval as scheduled (from the moment of the rating), so it reads as the button promised
        self.terminal.show_next(format_interval((new_card.due - new_card.last_review).total_seconds(), self.lang)
                                if new_card else None)
        return Outcome(question.id, rating, correct, title), new_card.due if new_card else None

    def _record(self, question: Question, card, rating: Rating, correct: bool, answer: str):
        now = self.clock()
        new_card = None if self.cram else review(card, question.id, rating, now)
        if self.cram and self.store.readonly:  # cramming on a read-only store: practice, nothing saved
            return None
        self.store.record_review(
            ReviewRecord(question.id, question.topic, int(rating), correct, answer, self.cram, now), new_card)
        return new_card

    def _read_marked(self, asked: Asked) -> tuple[str, bool, object]:
        """Read an mcq or numeric answer until it parses; an empty line means "I don't know" (wrong).
        Returns the text, whether it is right, and what it was read as (choice letters or a number)."""
        question = asked.question
        while True:
            answer = self.terminal.read_line(t("answer_prompt", self.lang)).strip()
            if not answer:
                return answer, False, None
            if question.type == "mcq":
                chosen = parse_choices(answer, question.choices)
                if chosen is not None:
                    return answer, chosen == question.correct_choices, chosen
                self.terminal.warn(t("invalid_choice", self.lang, choices=", ".join(question.choices),
                                     digits=f"1-{len(question.choices)}"))
            else:
                number = parse_number(answer, question.numeric.unit)
                if number is not None:
                    return answer, number_matches(number, asked.expected, question.numeric.tolerance), number
                self.terminal.warn(t("invalid_number", self.lang, text=answer))

    def _read_ticks(self, found: list[bool]) -> list[bool]:
        """Read which key points the learner covered (digits; Enter keeps what the program found)."""
        while True:
            ticked = parse_ticks(self.terminal.read_line(t("key_points_prompt", self.lang)), len(found), found)
            if ticked is not None:
                return ticked
            self.terminal.warn(t("key_points_invalid", self.lang, last=len(found)))

    def _read_rating(self, card, suggested: int | None = None) -> Rating:
        """Show the four buttons (with when each brings the question back) and read one; Enter takes the
        `suggested` rating when there is one."""
        when = None
        if not self.cram:
            now = self.clock()
            when = {
                int(rating): format_interval((due - now).total_seconds(), self.lang)
                for rating, due in preview(card, now).items()
            }
        self.terminal.show_buttons(when)
        label = t("rate_prompt", self.lang) if suggested is None else t(
            "rate_prompt_suggested", self.lang, value=suggested, name=t(f"rating_{RATING_KEYS[suggested - 1]}", self.lang))
        while True:
            typed = self.terminal.read_line(label)
            rating = suggested if suggested is not None and not typed.strip() else parse_rating(typed)
            if rating is not None:
                return Rating(rating)
            self.terminal.warn(t("invalid_rating", self.lang))


def first_line(text: str, width: int = 48) -> str:
    """A prompt's first line, cut to `width` characters (an ellipsis when cut)."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def summarize(result: SessionResult, terminal: Terminal, saved_to: str | None) -> None:
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
    missed, seen = [], set()
    for outcome in result.outcomes:
        if not outcome.correct and outcome.question_id not in seen:
            seen.add(outcome.question_id)
            missed.append(outcome.title)
    waiting = None
    if result.waiting:
        wait = max(0.0, (result.waiting[0][1] - (result.ended_at or clock.now())).total_seconds())
        waiting = t("summary_waiting", lang, count=len(result.waiting), when=format_interval(wait, lang))
    terminal.show_summary(
        answered=len(result.outcomes),
        recalled=sum(outcome.correct for outcome in result.outcomes),
        ratings=ratings,
        missed=missed,
        saved_to=saved_to,
        waiting=waiting,
    )
