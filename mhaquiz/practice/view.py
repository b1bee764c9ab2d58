"""Rendering for the practice commands: rich in a terminal, plain lines when piped (no box drawing, no codes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, List, Optional

from rich.table import Table
from rich.text import Text

from mhaquiz.i18n import t
from mhaquiz.practice.loop import ATTEMPTED, NOT_STARTED, PASSED, ExerciseStatus, HintReveal, next_exercise, totals

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


def due_text(row: ExerciseStatus, lang: str, now=None) -> str:
    """"due now" / "in 3d" for a passed exercise's next practice; "" for the others."""
    if row.due is None:
        return ""
    if row.is_due:
        return t("ex_due_now", lang)
    from mhaquiz import clock
    from mhaquiz.i18n import format_interval

    return t("ex_due_in", lang, when=format_interval((row.due - (now or clock.now())).total_seconds(), lang))


def track_name(track: str, lang: str) -> str:
    """NumPy, PyTorch."""
    return t(f"track.{track}", lang)


def other_tracks_text(row: ExerciseStatus, track: str, lang: str) -> str:
    """What the row does not show: "NumPy only" when the exercise lacks `track`, and its other tracks once
    started ("PyTorch: passed"); "" otherwise."""
    parts = [t("list_only_track", lang, track=track_name(row.track, lang))] if row.track != track else []
    parts += [t("list_other_track", lang, track=track_name(other.track, lang), status=t(f"ex_status_{other.status}", lang))
              for other in row.others if other.status != NOT_STARTED]
    return t("list_separator", lang).join(parts)


# Columns of the terminal table, least important last: a narrow terminal drops them from the end before it
# would cut an id (the id is what the learner types next).
_COLUMNS = ("#", "col_exercise", "col_status", "col_due", "col_best", "col_hints", "col_other", "col_title")


def render_list(console: "Console", rows: List[ExerciseStatus], lang: str, track: str = "numpy",
                flag: Callable[[str], str] = lambda track: "") -> None:
    """The exercises' status in `track` (the other tracks noted); `flag(track)` is what a suggested command
    needs to stay in that track (" --torch", or "")."""
    count = totals(rows)
    console.print(Text(t("list_title", lang, **{k: count[k] for k in ("passed", "attempted", "total")}), style="bold"))
    if track != "numpy":
        console.print(Text(t("list_in_track", lang, track=track_name(track, lang))))
    if console.is_terminal:
        from rich.cells import cell_len

        cells = []
        for row in rows:
            cells.append({
                "#": str(row.position), "col_exercise": row.id,
                "col_status": Text(t(f"ex_status_{row.status}", lang), style=STATUS_STYLE.get(row.status, "dim")),
                "col_due": Text(due_text(row, lang), style="bold yellow" if row.is_due else "dim"),
                "col_best": best_text(row.best, row.best_graded_at, lang),
                "col_hints": f"{row.hints_shown}/{row.hints_total}" if row.hints_total else "",
                "col_other": Text(other_tracks_text(row, track, lang), style="dim"),
                "col_title": Text(row.title[lang]),
            })
        headers = {key: "#" if key == "#" else t(key, lang) for key in _COLUMNS}
        columns = [key for key in _COLUMNS if key != "col_other" or any(str(cell[key]) for cell in cells)]

        def width(key):
            return max([cell_len(headers[key])] + [cell_len(str(cell[key])) for cell in cells])

        shown = columns
        while len(shown) > 2 and sum(width(key) + 2 for key in shown) > console.width:
            shown.pop()  # the least important column goes first; # and the id always stay
        table = Table(box=None, pad_edge=False, header_style="bold")
        for key in shown:
            table.add_column(headers[key], justify="right" if key == "#" else "left",
                             no_wrap=key in ("#", "col_exercise"), overflow="fold" if key == "col_title" else "ellipsis")
        for cell in cells:
            table.add_row(*(cell[key] for key in shown))
        console.print(table)
    else:
        from rich.cells import cell_len

        width = max((len(row.id) for row in rows), default=0)
        status_width = max((cell_len(t(f"ex_status_{row.status}", lang)) for row in rows), default=0)
        for row in rows:
            status = t(f"ex_status_{row.status}", lang)
            parts = [f"{row.position:>2}. {row.id:<{width}}", status + " " * (status_width - cell_len(status))]
            for extra in (due_text(row, lang), best_text(row.best, row.best_graded_at, lang),
                          other_tracks_text(row, track, lang)):
                if extra:
                    parts.append(extra)
            parts.append(row.title[lang])
            console.print(Text("  ".join(parts)), soft_wrap=True)
    upcoming = next_exercise(rows)
    if upcoming is None:
        console.print(Text(t("list_all_passed", lang), style="dim"))
    else:
        key = "grade_next_due" if upcoming.is_due else "list_next"
        console.print(Text(t(key, lang, id=upcoming.id + flag(upcoming.track)), style="dim"))


def render_hints(console: "Console", reveal: HintReveal, title: str, lang: str, flag: str = "") -> None:
    """The hints shown so far, the newest marked; `flag` is what the suggested commands need to stay in the
    hints' track (" --torch", or "")."""
    command_id = reveal.exercise.id + flag
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
        console.print(Text(t("hint_none_left", lang, total=reveal.total, id=command_id), style="yellow"))
    elif not reveal.left:
        console.print(Text(t("hint_last", lang, id=command_id), style="dim"))
    elif reveal.remembered:  # not remembered (a read-only store): running it again would show this one again
        console.print(Text(t("hint_more_left", lang, left=reveal.left, id=command_id), style="dim"))


def render_solution(console: "Console", source: str, header: str) -> None:
    """Syntax-highlighted with line numbers in a terminal; piped, exactly the source on stdout (header on
    stderr), so `mhaquiz solution ID --yes > ref.py` gives a runnable file."""
    if console.is_terminal:
        from rich.syntax import Syntax

        console.print(Text(header, style="bold"))
        console.print(Syntax(source, "python", line_numbers=True, word_wrap=True))  # wrapped, never cropped
    else:
        import sys

        from mhaquiz.console import make_console

        make_console(stderr=True).print(Text(header), soft_wrap=True)
        sys.stdout.write(source if source.endswith("\n") else source + "\n")
