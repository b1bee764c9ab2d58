"""Rendering for the practice commands: rich in a terminal, plain lines when piped (no box drawing, no codes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional

from rich.table import Table
from rich.text import Text

from mhaquiz.i18n import t
from mhaquiz.practice import ATTEMPTED, PASSED, ExerciseStatus, HintReveal, next_exercise, totals

if TYPE_CHECKING:
    from rich.console import Console

STATUS_STYLE = {PASSED: "green", ATTEMPTED: "yellow"}


def best_text(best: Optional[dict], when, lang: str) -> str:
    """"5/7 cases (2025-03-03)" from a grade summary; "" when there is none."""
    if not best:
        return ""
    date = when.astimezone().date().isoformat() if when else "?"
    passed, total = best.get("cases_passed"), best.get("cases_total")
    if isinstance(passed, int) and isinstance(total, int) and total:
        return t("best_cases", lang, passed=passed, total=total, date=date)
    score = best.get("score")
    if isinstance(score, (int, float)):
        return t("best_score", lang, score=f"{score:.0%}", date=date)
    return t("best_score", lang, score=best.get("verdict", "?"), date=date)


def render_list(console: "Console", rows: List[ExerciseStatus], lang: str) -> None:
    count = totals(rows)
    console.print(Text(t("list_title", lang, **{k: count[k] for k in ("passed", "attempted", "total")}), style="bold"))
    if console.is_terminal:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for key in ("#", "col_exercise", "col_title", "col_status", "col_best", "col_hints"):
            table.add_column("#" if key == "#" else t(key, lang), justify="right" if key == "#" else "left")
        for row in rows:
            table.add_row(
                str(row.position), row.id, Text(row.title[lang]),
                Text(t(f"ex_status_{row.status}", lang), style=STATUS_STYLE.get(row.status, "dim")),
                best_text(row.best, row.best_graded_at, lang),
                f"{row.hints_shown}/{row.hints_total}" if row.hints_total else "",
            )
        console.print(table)
    else:
        from rich.cells import cell_len

        width = max((len(row.id) for row in rows), default=0)
        status_width = max((cell_len(t(f"ex_status_{row.status}", lang)) for row in rows), default=0)
        for row in rows:
            status = t(f"ex_status_{row.status}", lang)
            parts = [f"{row.position:>2}. {row.id:<{width}}", status + " " * (status_width - cell_len(status))]
            best = best_text(row.best, row.best_graded_at, lang)
            if best:
                parts.append(best)
            parts.append(row.title[lang])
            console.print(Text("  ".join(parts)), soft_wrap=True)
    upcoming = next_exercise(rows)
    console.print(Text(t("list_next", lang, id=upcoming.id) if upcoming else t("list_all_passed", lang), style="dim"))


def render_hints(console: "Console", reveal: HintReveal, title: str, lang: str) -> None:
    if not reveal.total:
        console.print(Text(t("hint_no_hints", lang)))
        return
    for number, text in enumerate(reveal.shown, start=1):
        newest = reveal.new and number == len(reveal.shown)
        console.print(Text(t("hint_header", lang, title=title, shown=number, total=reveal.total),
                           style="bold cyan" if newest else "bold"))
        console.print(Text(text, style="" if newest or not console.is_terminal else "dim"), soft_wrap=not console.is_terminal)
        console.print()
    if not reveal.new:
        console.print(Text(t("hint_none_left", lang, total=reveal.total), style="yellow"))
    elif reveal.left:
        console.print(Text(t("hint_more_left", lang, left=reveal.left, id=reveal.exercise.id), style="dim"))


def render_solution(console: "Console", source: str, header: str) -> None:
    """Syntax-highlighted with line numbers in a terminal; piped, exactly the source on stdout (header on
    stderr), so `mhaquiz solution ID --yes > ref.py` gives a runnable file."""
    if console.is_terminal:
        from rich.syntax import Syntax

        console.print(Text(header, style="bold"))
        console.print(Syntax(source, "python", line_numbers=True, word_wrap=False))
    else:
        import sys

        from mhaquiz.console import make_console

        make_console(stderr=True).print(Text(header), soft_wrap=True)
        sys.stdout.write(source if source.endswith("\n") else source + "\n")
