"""`mhaquiz interview`: a timed mock interview, a few conceptual questions and then one coding exercise.

- The clock: `minutes` in all. The questions may use up to a third of it (QUESTION_SHARE); once that is
  gone no further question is asked (a prompt waiting for an answer stops at that moment), and whatever
  they leave goes to the exercise. The exercise ends when the learner types `done` (or `完成`), when input
  ends, or when the time is up: the file is then graded as it is. Every header and prompt shows the time
  left.
- Ctrl-C ends the interview with its summary (what was done so far).
- A stub left untouched is "not attempted" (no points, and no grade recorded), not a failure.
- The questions are the bank's objectively marked ones (multiple choice and numeric), so the score is not
  self-assessed, drawn balanced (`pick_questions`: types alternating, topics distinct, none answered in the
  last hour while others are left). They go through the quiz engine (`Session`, the terminal's piped mode) in cram mode: every
  answer is recorded in the store's history, but the review schedule is left alone.
- The exercise (`--exercise`, else a seeded pick among those not passed yet, else among all) is written to
  a new file `interview_<id>.py` (`_2`, `_3`, ... when that exists): nothing is ever overwritten. The task
  text shown names that file. In the PyTorch track (`track="torch"`) the stub and the task are the PyTorch
  form's, and the pick is among the exercises that have one. Its
  grade is recorded like any other grade (the summary carries `"context": "interview"`).
- The score out of 100: QUESTION_POINTS for the questions (the share of the planned questions answered
  right), the rest for the exercise (the share of its cases passed). Going over time is shown, not
  penalised.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, List, Optional

from mhaquiz.errors import MhaquizError
from mhaquiz.i18n import t
from mhaquiz.quiz.ui import Terminal

if TYPE_CHECKING:
    from mhaquiz.quiz.bank import Question
    from mhaquiz.store import Store

QUESTION_SHARE = 1 / 3
RECENT_MINUTES = 60  # a question answered this recently is not drawn again while others are left
QUESTION_POINTS = 40
OVER_TIME_GRACE = 1.0  # seconds: being stopped by the clock is not going over it
DONE_WORDS = {"done", "d", "完成", "好了"}
OBJECTIVE_TYPES = ("mcq", "numeric")


class TimedTerminal(Terminal):
    """The quiz terminal with a clock: the time left in every header and prompt, and no input accepted once
    `deadline` (on `clock`) has passed, even while waiting at a prompt."""

    deadline: Optional[float] = None  # the questions' deadline, while they run
    end: Optional[float] = None  # the interview's end
    clock: Callable[[], float] = staticmethod(time.monotonic)
    timed_out: bool = False
    reader: Optional[object] = None  # practice.LineReader over stdin (or what a test gives), for timed reads

    def left(self) -> str:
        limit = self.end if self.end is not None else self.deadline
        return t("iv_left", self.lang, left=_clock_text(max(0.0, limit - self.clock()))) if limit is not None else ""

    def show_question(self, asked, index: int, total: int, reason: str) -> None:
        super().show_question(asked, index, total, reason)
        if self.end is not None:
            self.message(self.left(), "dim")

    def read_line(self, label: str) -> str:
        if self.deadline is not None and self.clock() >= self.deadline:
            self.timed_out = True
            raise EOFError  # the session stops quietly, as at the end of input
        if self.deadline is None:
            return super().read_line(label)
        prompt = f"{label} ({self.left()})"
        if self.interactive:
            self.console.print(f"{prompt} › ", end="", markup=False, highlight=False)
        line = self.reader.get(self.deadline, self.clock)
        if line is None:  # the time ran out at the prompt
            self.timed_out = True
            if self.interactive:
                self.console.print()
            raise EOFError
        if line == "":
            raise EOFError
        answer = line.rstrip("\r\n")
        if not self.interactive:
            self.message(f"{prompt} › {answer}")
        return answer


@dataclass
class InterviewResult:
    """What happened, and the score."""

    minutes: float
    questions_planned: int = 0
    questions_asked: int = 0
    questions_right: int = 0
    missed: List[str] = field(default_factory=list)
    questions_timed_out: bool = False
    exercise_id: str = ""
    track: str = "numpy"  # the stub's track: "numpy" or "torch"
    file: str = ""
    verdict: str = ""  # a verdict id, or "not_attempted" / "not_graded"
    detail: str = ""
    passed: bool = False
    cases_passed: int = 0
    cases_total: int = 0
    coding_timed_out: bool = False
    seconds_used: float = 0.0

    @property
    def seconds_allowed(self) -> float:
        return self.minutes * 60

    @property
    def over_time(self) -> bool:
        return self.seconds_used > self.seconds_allowed + OVER_TIME_GRACE

    @property
    def question_max(self) -> int:
        return QUESTION_POINTS if self.questions_planned else 0

    @property
    def question_points(self) -> int:
        return round(self.question_max * self.questions_right / self.questions_planned) if self.questions_planned else 0

    @property
    def exercise_max(self) -> int:
        return 100 - self.question_max

    @property
    def exercise_points(self) -> int:
        if self.passed:
            return self.exercise_max
        return round(self.exercise_max * self.cases_passed / self.cases_total) if self.cases_total else 0

    @property
    def score(self) -> int:
        return self.question_points + self.exercise_points

    def to_dict(self) -> dict:
        return {
            "score": self.score,
            "questions": {"planned": self.questions_planned, "asked": self.questions_asked,
                          "right": self.questions_right, "missed": self.missed, "points": self.question_points,
                          "max": self.question_max, "timed_out": self.questions_timed_out},
            "exercise": {"id": self.exercise_id, "track": self.track, "file": self.file, "verdict": self.verdict, "detail": self.detail,
                         "passed": self.passed, "cases_passed": self.cases_passed, "cases_total": self.cases_total,
                         "points": self.exercise_points, "max": self.exercise_max, "timed_out": self.coding_timed_out},
            "seconds_used": round(self.seconds_used, 1), "seconds_allowed": self.seconds_allowed,
            "over_time": self.over_time,
        }


def pick_questions(questions: List["Question"], count: int, rng: random.Random,
                   recent: frozenset = frozenset()) -> List["Question"]:
    """A balanced draw of `count` objective questions: the type drawn less so far is wanted next (multiple
    choice, numeric) as far as the bank allows, each question from a topic not drawn yet while one is left (so never three numeric
    questions from one topic when there are other topics), and none answered in the last RECENT_MINUTES
    (`recent`) while others are left (a numeric template answered minutes ago would be a repeat)."""
    pool = [question for question in questions if question.type in OBJECTIVE_TYPES]
    rng.shuffle(pool)
    pool.sort(key=lambda question: question.id in recent)  # stable: fresh ones first, shuffled within
    types = [kind for kind in OBJECTIVE_TYPES if any(question.type == kind for question in pool)]
    rng.shuffle(types)
    chosen: List["Question"] = []
    for _ in range(min(count, len(pool))):
        wanted = min(types, key=lambda kind: sum(question.type == kind for question in chosen))  # the rarer type
        topics = {}  # topic -> how often drawn
        for question in chosen:
            topics[question.topic] = topics.get(question.topic, 0) + 1
        # best first: fresh, of the wanted type, from the least-drawn topic
        best = min((question for question in pool if question not in chosen),
                   key=lambda question: (question.id in recent, topics.get(question.topic, 0), question.type != wanted))
        chosen.append(best)
    return chosen


def pick_exercise(store: "Store", exercise_id: Optional[str], rng: random.Random, track: str = "numpy"):
    """`exercise_id` if given (validated, in `track`), else a seeded pick among the exercises of `track` not
    passed yet in it (or all of them)."""
    from mhaquiz.grader.exercises import get_exercise
    from mhaquiz.practice.loop import PASSED, check_track, curriculum, statuses

    if exercise_id is not None:
        exercise = get_exercise(exercise_id)
        check_track(exercise, track)
        return exercise
    exercises = [exercise for exercise in curriculum() if track in exercise.tracks]
    if not exercises:
        raise MhaquizError("error.no_exercises")
    passed = {row.id for row in statuses(store, track=track) if row.status == PASSED and row.track == track}
    pool = [exercise for exercise in exercises if exercise.id not in passed] or exercises
    return rng.choice(pool)


def run_interview(
    store: "Store",
    terminal: TimedTerminal,
    questions: List["Question"],
    *,
    minutes: float,
    question_count: int,
    directory: Path,
    exercise_id: Optional[str] = None,
    seed: Optional[int] = None,
    clock: Callable[[], float] = time.monotonic,
    read_line: Optional[Callable[[], str]] = None,  # where "done" is read from (tests); default: the terminal's
    grade_timeout: float = 5.0,
    track: str = "numpy",
) -> InterviewResult:
    """Run the whole interview through `terminal`; KeyboardInterrupt propagates (answers so far are kept)."""
    from mhaquiz.practice.loop import LineReader, fresh_file, title
    from mhaquiz.quiz.session import Session

    if minutes <= 0:
        raise MhaquizError("error.minutes")
    lang = terminal.lang
    rng = random.Random(seed)
    objective = [question for question in questions if question.type in OBJECTIVE_TYPES]
    exercise = pick_exercise(store, exercise_id, rng, track)  # validated before the clock starts
    fresh_file(exercise, directory, "interview_")  # the folder too: a usage error before the clock starts
    result = InterviewResult(minutes=minutes, exercise_id=exercise.id, track=track)
    start = clock()
    deadline = start + minutes * 60
    terminal.clock, terminal.end = clock, deadline
    if terminal.reader is None:
        terminal.reader = LineReader(sys.stdin.readline)
    done_reader = LineReader(read_line) if read_line is not None else terminal.reader

    terminal.message(t("iv_title", lang), "bold")
    terminal.message(t("iv_intro", lang, questions=min(question_count, len(objective)), minutes=f"{minutes:g}"))
    try:
        # --- the questions: quiz engine, cram mode, cut off at their share of the time -------------
        if question_count > 0 and objective:
            terminal.deadline = start + minutes * 60 * QUESTION_SHARE
            from datetime import timedelta

            from mhaquiz import clock as wall_clock

            recent = frozenset(store.answered_since(wall_clock.now() - timedelta(minutes=RECENT_MINUTES)))
            drawn = pick_questions(objective, question_count, rng, recent)
            session = Session(store, terminal, cram=True, seed=seed).run(drawn, len(drawn))
            terminal.deadline = None
            result.questions_planned = session.planned
            result.questions_asked = len(session.outcomes)
            result.questions_right = sum(outcome.correct for outcome in session.outcomes)
            result.missed = [outcome.title for outcome in session.outcomes if not outcome.correct]
            result.questions_timed_out = terminal.timed_out
            if session.interrupted:
                raise KeyboardInterrupt
            if terminal.timed_out:
                terminal.warn(t("iv_time_up_questions", lang))

        # --- the exercise: write the stub, wait for "done" or the clock, grade -----------------------
        target = fresh_file(exercise, directory, "interview_")
        target.write_text(exercise.stub_path_for(track).read_text(encoding="utf-8"), encoding="utf-8")
        result.file = str(target)
        terminal.message("")
        terminal.message(t("iv_coding", lang, title=title(exercise, lang)), "bold cyan")
        _show_prompt(terminal, _naming(exercise.prompt_for(lang, track), exercise.id, target.name))
        terminal.message(t("iv_file", lang, path=target, left=_clock_text(max(0.0, deadline - clock()))), "bold")
        result.coding_timed_out = _wait_for_done(terminal, deadline, clock, done_reader)
        if result.coding_timed_out:
            terminal.warn(t("iv_time_up", lang))
        result.seconds_used = clock() - start
        _grade(store, terminal, result, target, exercise.id, seed, grade_timeout, track)
    except KeyboardInterrupt:
        result.seconds_used = clock() - start
        if not result.verdict:
            result.verdict = "interrupted"
        show_summary(terminal, result)
        raise
    show_summary(terminal, result)
    return result


def _naming(prompt: str, exercise_id: str, file_name: str) -> str:
    """The task text naming the file the learner actually has (`interview_<id>.py`, not `<id>.py`)."""
    import re

    return re.sub(rf"(?<![\w./-]){re.escape(exercise_id)}\.py\b", file_name, prompt)


def _show_prompt(terminal: TimedTerminal, prompt: str) -> None:
    """The exercise's task as `start` shows it: Markdown in a terminal, the text as written when piped."""
    if terminal.fancy:
        from rich.markdown import Markdown

        terminal.console.print(Markdown(prompt))
    else:
        terminal.message(prompt.rstrip())
    terminal.message("")


def _wait_for_done(terminal: TimedTerminal, deadline: float, clock, reader) -> bool:
    """Read lines until "done", the end of input, or the deadline; True if the time ran out."""
    while True:
        label = f"{t('iv_done_prompt', terminal.lang)} ({terminal.left()})"
        if terminal.interactive:
            terminal.console.print(f"{label} › ", end="", markup=False, highlight=False)
        line = reader.get(deadline, clock)
        if line is None:
            if terminal.interactive:
                terminal.console.print()
            return True
        if line == "":
            return False  # end of input: grade what is there
        if not terminal.interactive:
            terminal.message(f"{label} › {line.rstrip()}")
        if line.strip().lower() in DONE_WORDS:
            return False


def _grade(store: "Store", terminal: TimedTerminal, result: InterviewResult, target: Path, exercise_id: str,
           seed: Optional[int], timeout: float, track: str = "numpy") -> None:
    from mhaquiz.grader.grade import grade_file
    from mhaquiz.grader.render import render
    from mhaquiz.practice.loop import is_untouched_stub, record_report

    lang = terminal.lang
    if is_untouched_stub(target, exercise_id, track):  # nothing written: not attempted, nothing to grade or record
        result.verdict = "not_attempted"
        return
    try:
        report = grade_file(target, exercise_ids=[exercise_id], seed=seed or 0, timeout=timeout)
    except MhaquizError as error:  # the file was deleted, say: a failed exercise, not a crash
        result.verdict, result.detail = "not_graded", error.text(lang)
        terminal.warn(error.text(lang))
        return
    render(report, terminal.console, lang)
    result.verdict, result.passed = report.verdict.value, report.passed
    result.detail = report.detail.text(lang) if report.detail else ""
    for graded_id, _, summary in report.summaries():
        if graded_id == exercise_id:
            result.cases_passed = summary.get("cases_passed", 0)
            result.cases_total = summary.get("cases_total", 0)
    try:
        record_report(store, report, context="interview")
    except MhaquizError as error:  # a store that cannot be written: the grade stands, unrecorded
        terminal.warn(t("warning.not_recorded", lang, reason=error.text(lang)))


def show_summary(terminal: Terminal, result: InterviewResult) -> None:
    lang = terminal.lang
    lines = []
    if result.questions_planned:
        lines.append(t("iv_summary_questions", lang, right=result.questions_right, asked=result.questions_asked,
                       planned=result.questions_planned))
    if result.verdict in ("not_attempted", "interrupted", "not_graded", ""):
        lines.append(t(f"iv_exercise_{result.verdict or 'interrupted'}", lang, id=result.exercise_id))
    else:
        lines.append(t("iv_summary_exercise", lang, id=result.exercise_id, verdict=t(f"verdict.{result.verdict}", lang),
                       passed=result.cases_passed, total=result.cases_total))
    lines.append(t("iv_summary_time", lang, used=_clock_text(result.seconds_used),
                   allowed=_clock_text(result.seconds_allowed), over=t("iv_over_time", lang) if result.over_time else ""))
    lines.append(t("iv_summary_score", lang, score=result.score, q_points=result.question_points,
                   q_max=result.question_max, e_points=result.exercise_points, e_max=result.exercise_max))
    if result.questions_planned:
        lines.append(t("iv_not_rescheduled", lang))
    from rich.panel import Panel
    from rich.text import Text

    title = t("iv_summary_title", lang)
    terminal.message("")
    if terminal.fancy:
        terminal.console.print(Panel(Text("\n".join(lines)), title=title, title_align="left", border_style="green"))
    else:
        terminal.message(f"== {title} ==")
        for line in lines:
            terminal.message(line)


def _clock_text(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"
