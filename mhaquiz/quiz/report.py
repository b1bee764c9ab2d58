"""`mhaquiz questions`: a table per topic in a terminal, plain lines when piped (rich drops colour by itself
when piped or NO_COLOR). `mhaquiz stats` spans questions and exercises: mhaquiz/overview/view.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text as RichText

from mhaquiz.i18n import t

if TYPE_CHECKING:
    from rich.console import Console

    from mhaquiz.quiz.bank import Question

def render_questions(console: "Console", questions: list["Question"], lang: str, bank=None) -> None:
    """A table per topic (its name in `lang`, its id for --topic): id, difficulty, type and the prompt's first
    line (a numeric question shown with its first drawn numbers, not its placeholders)."""
    console.print(RichText(t("questions_title", lang, count=len(questions)), style="bold"))
    topics = sorted({question.topic for question in questions})
    for topic in topics:
        name = bank.topic_title(topic, lang) if bank is not None else topic
        rows = [(question.id, t(f"difficulty_{question.difficulty}", lang), t(f"type_{question.type}", lang),
                 _first_line(question, lang)) for question in questions if question.topic == topic]
        if not console.is_terminal:  # piped: one plain line per question, as list and ask do
            console.print(RichText(f"== {name} (--topic {topic}) ==" if name != topic else f"== {topic} =="),
                          soft_wrap=True)
            for row in rows:
                console.print(RichText(" · ".join(row)), soft_wrap=True)
            continue
        table = Table(title=f"{name} (--topic {topic})" if name != topic else topic, title_justify="left",
                      title_style="bold cyan")
        table.add_column(t("col_id", lang), no_wrap=True)
        table.add_column(t("col_difficulty", lang))
        table.add_column(t("col_type", lang))
        table.add_column(t("col_prompt", lang), ratio=1, overflow="fold")
        for question_id, difficulty, kind, prompt in rows:
            table.add_row(question_id, difficulty, kind, RichText(prompt))
        console.print(table)


def _first_line(question, lang: str) -> str:
    """The prompt's first line, a numeric question's with its first drawn numbers."""
    import random

    from mhaquiz.quiz.marking import instantiate

    asked = instantiate(question, random.Random(0), question.language_for(lang))
    return asked.prompt(asked.lang).strip().splitlines()[0]
