"""The quiz's terminal: rich panels and line-edited prompts in a terminal, plain lines when piped.

Input: in a terminal, one line per prompt with readline editing; with stdin piped, one answer per line,
echoed after its prompt so a transcript reads naturally; the end of input raises EOFError.
Content text is always passed as rich `Text`, never as markup, so `x[i]` in a question prints as written.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING

from rich.console import Group
from rich.panel import Panel
from rich.text import Text as RichText

from mhaquiz.i18n import t
from mhaquiz.quiz.bank import format_number
from mhaquiz.quiz.marking import Asked, numeric_example

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

RATING_KEYS = ("again", "hard", "good", "easy")
RATING_WORDS = {"重来": 1, "困难": 2, "良好": 3, "简单": 4}


def parse_rating(text: str) -> int | None:
    """1-4, a rating's name or first letter (again/hard/good/easy, a/h/g/e) or its Chinese name; else None."""
    word = text.strip().lower()
    if word in ("1", "2", "3", "4"):
        return int(word)
    if word in RATING_WORDS:
        return RATING_WORDS[word]
    for value, key in enumerate(RATING_KEYS, start=1):
        if word and key.startswith(word):
            return value
    return None


def hanging(rows: list) -> "Table":
    """(marker, text) or (marker, text, style) rows, each text's continuation lines indented under its first
    line, not under the marker."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for marker, text, *style in rows:
        grid.add_row(RichText(marker, style=style[0] if style else ""), RichText(text, style=style[0] if style else ""))
    return grid


class Terminal:
    """Everything the quiz shows and reads, in one language."""

    def __init__(self, console: "Console", lang: str, interactive: bool | None = None,
                 topic_titles: dict[str, str] | None = None):
        self.console = console
        self.lang = lang
        self.topic_titles = topic_titles or {}
        self.interactive = sys.stdin.isatty() if interactive is None else interactive
        self.fancy = console.is_terminal
        if self.interactive:
            try:
                import readline  # noqa: F401  (line editing and history for input())
            except ImportError:  # Windows
                pass

    # --- input ---------------------------------------------------------------------------

    def read_line(self, label: str) -> str:
        """One line of input after `label`; EOFError at the end of piped input."""
        if self.interactive:
            # The prompt goes to input() itself (not printed before it, as console.input does): readline then
            # knows the line is not empty, and Enter on an empty answer still moves to a new line.
            with self.console.capture() as captured:
                self.console.print(RichText(f"{label} › ", style="bold cyan"), end="")
            prompt = captured.get()
            if "readline" in sys.modules:  # colour escapes marked as zero-width for readline
                prompt = re.sub("(\x1b\\[[0-9;]*m)", "\x01\\1\x02", prompt)
            return input(prompt)
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        answer = line.rstrip("\r\n")
        self._print(RichText(f"{label} › {answer}"))
        return answer

    # --- output --------------------------------------------------------------------------

    def _print(self, *renderables) -> None:
        """Print; plain output is not wrapped, so a piped transcript keeps one line per line."""
        self.console.print(*renderables, soft_wrap=not self.fancy)

    def message(self, text: str, style: str = "") -> None:
        self._print(RichText(text, style=style))

    def warn(self, text: str) -> None:
        self.message(text, "yellow")

    def show_question(self, asked: Asked, index: int, total: int, reason: str) -> None:
        question, lang = asked.question, asked.lang
        header = t(
            "question_header", self.lang, index=index, total=total, topic=self.topic_title(question.topic),
            difficulty=t(f"difficulty_{question.difficulty}", self.lang), type=t(f"type_{question.type}", self.lang),
        ) + f" · {t(f'status_{reason}', self.lang)}"
        body = [RichText(asked.prompt(lang))]
        if question.type == "mcq":
            choices = [(f"  {key})", text(lang)) for key, text in question.choices.items()]
            body.append(hanging(choices) if self.fancy else RichText("\n".join(" ".join(row) for row in choices)))
        if question.type == "numeric":
            body.append(RichText(self._precision(question), style="bold"))
        if lang != self.lang:
            body.insert(0, RichText(t(f"only_in_{lang}", self.lang), style="yellow"))
        hint = self._hint(question, asked.expected)
        if self.fancy:
            from rich.cells import cell_len

            fits = cell_len(hint) + 8 <= self.console.width  # a panel's subtitle is cut, never wrapped
            self._print()
            self._print(Panel(Group(*body), title=header, title_align="left", subtitle=hint if fits else None,
                              border_style="cyan"))
            if not fits:
                self.message(hint, "dim")
        else:
            self._print()
            self._print(RichText(f"== {header} =="))
            for part in body:
                self._print(part)
            self._print(RichText(f"({hint})", style="dim"))

    def topic_title(self, topic: str) -> str:
        """A topic's name in the session's language (set by the caller from the bank; the slug otherwise)."""
        return self.topic_titles.get(topic, topic) if self.topic_titles else topic

    def _precision(self, question) -> str:
        tolerance = question.numeric.tolerance
        if not tolerance:
            return t("precision_exact", self.lang)
        return t("precision_relative", self.lang, tolerance=f"{tolerance * 100:g}%")

    def _hint(self, question, expected: float | None = None) -> str:
        if question.type == "mcq":
            return t("mcq_hint", self.lang, last=len(question.choices))
        if question.type == "numeric":  # the example number is never near the answer on screen
            example = numeric_example(expected)
            if not question.numeric.tolerance:
                return t("numeric_hint_exact", self.lang, plain=example["plain"], grouped=example["grouped"])
            return t("numeric_hint", self.lang, **{key: example[key] for key in ("plain", "grouped", "sci", "short")})
        return t("open_hint", self.lang)

    def show_marked(self, asked: Asked, correct: bool, answer: str = "", value=None) -> None:
        """The verdict on an mcq or numeric answer, what the answer was read as, the right answer, the
        explanation and the source."""
        question, lang = asked.question, asked.lang
        verdict = RichText(t("correct" if correct else "wrong", self.lang), style="bold green" if correct else "bold red")
        lines = [verdict]
        if question.type == "mcq":
            expected = ", ".join(f"{key}) {question.choices[key](lang)}" for key in sorted(question.correct_choices))
            if value:
                chosen = ", ".join(f"{key}) {question.choices[key](lang)}" for key in sorted(value))
                lines.append(RichText(t("you_chose", self.lang, choices=chosen)))
            else:
                lines.append(RichText(t("you_did_not_know", self.lang)))
        else:
            unit = question.numeric.unit(lang) if question.numeric.unit else ""
            expected = f"{format_number(asked.expected)} {unit}".strip()
            if value is None:
                lines.append(RichText(t("you_did_not_know", self.lang)))
            else:
                relation = "=" if correct else "≠"
                requirement = self._precision(question)
                lines.append(RichText(t("numeric_echo", self.lang, got=format_number(value), relation=relation,
                                        expected=format_number(asked.expected), requirement=requirement)))
        lines.append(RichText(t("expected", self.lang, answer=expected)))
        self._explain(asked, lines)

    def show_open_review(self, asked: Asked, answer: str, found: list[bool]) -> None:
        """What they typed beside the reference, and the key points numbered for ticking, those found in the
        answer pre-ticked."""
        question, lang = asked.question, asked.lang
        lines = [
            RichText(t("your_answer", self.lang, text=answer or "—"), style="italic"),
            RichText(t("reference", self.lang, text=question.answer_text(lang))),
        ]
        if question.key_points:
            marks = [(f"  {number} {'✓' if hit else '·'}", point(lang), "bold green" if hit else "")
                     for number, (point, hit) in enumerate(zip(question.key_points, found), start=1)]
            if self.fancy:  # each point's continuation lines under its text
                lines.append(Group(RichText(t("key_points", self.lang)), hanging(marks)))
            else:
                points = RichText(t("key_points", self.lang))
                for marker, text, style in marks:
                    points.append(f"\n{marker} {text}", style=style)
                lines.append(points)
        self._explain(asked, lines)

    def show_ticks(self, ticked: list[bool], suggested: int) -> None:
        """How many key points the learner ticked, and the rating that suggests."""
        name = t(f"rating_{RATING_KEYS[suggested - 1]}", self.lang)
        self.message(t("key_points_result", self.lang, covered=sum(ticked), total=len(ticked), value=suggested,
                       name=name), "bold")

    def _explain(self, asked: Asked, lines: list) -> None:
        if asked.explanation is not None:
            lines.append(RichText(t("explanation", self.lang, text=asked.explanation(asked.lang))))
        if asked.question.source:
            lines.append(RichText(t("source", self.lang, source=asked.question.source), style="dim"))
        if self.fancy:
            self._print(Panel(Group(*lines), border_style="magenta"))
        else:
            for line in lines:
                self._print(line)

    def show_buttons(self, when: dict[int, str] | None) -> None:
        """The four ratings, each with when the question comes back (`when` None: cramming, no times)."""
        width = self.console.width if self.fancy else None
        line = RichText()
        for value, key in enumerate(RATING_KEYS, start=1):
            button = RichText(f"[{value}]", style="bold cyan").append(f" {t(f'rating_{key}', self.lang)}")
            if when:
                button.append(f" ({when[value]})", style="dim")
            if line.cell_len and width and line.cell_len + 2 + button.cell_len > width:  # never break inside a button
                self._print(line)
                line = RichText()
            line.append("  " if line.cell_len else "").append_text(button)
        self._print(line)

    def show_next(self, when: str | None) -> None:
        """When the question comes back, or that cramming left its schedule alone."""
        text = t("comes_back", self.lang, when=when) if when else t("not_rescheduled", self.lang)
        self.message(text, "dim")

    def show_summary(self, answered: int, recalled: int, ratings: dict[int, int], missed: list[str], saved_to: str | None,
                     waiting: str | None = None) -> None:
        title = t("summary_title", self.lang)
        if answered:
            lines = [
                t("summary_line", self.lang, answered=answered, recalled=recalled, percent=f"{recalled / answered:.0%}"),
                t("summary_ratings", self.lang, **{key: ratings.get(value, 0) for value, key in enumerate(RATING_KEYS, 1)}),
            ]
            if missed:
                lines.append(t("summary_missed", self.lang))
                lines.extend(f"  · {title_line}" for title_line in missed)
            if waiting:
                lines.append(waiting)
            if saved_to:  # None: a read-only store kept nothing
                lines.append(t("summary_saved", self.lang, path=saved_to))
        else:
            lines = [t("summary_none", self.lang)]
        if self.fancy:  # the missed questions' titles hang under their own first line
            body = [hanging([("  ·", line[4:])]) if line.startswith("  · ") else RichText(line) for line in lines]
            self._print()
            self._print(Panel(Group(*body), title=title, title_align="left", border_style="green"))
        else:
            self._print()
            self._print(RichText(f"== {title} =="))
            for line in lines:
                self._print(RichText(line))
