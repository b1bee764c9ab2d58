"""`mhaquiz stats` for people: totals, mastery bars per topic, leeches, exercises and the mistakes made most
often (the data: mhaquiz/overview/stats.py). rich drops colour by itself when piped or NO_COLOR."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text as RichText

from mhaquiz.i18n import t

if TYPE_CHECKING:
    from rich.console import Console

BAR_WIDTH = 10


def render_stats(console: "Console", stats: dict, lang: str) -> None:
    """Totals, per-topic mastery bars, leeches and exercises."""
    accuracy = "—" if stats["accuracy"] is None else f"{stats['accuracy']:.0%}"
    console.print(RichText(t("stats_totals", lang, reviews=stats["reviews"], accuracy=accuracy,
                             seen=stats["seen"], questions=stats["questions"]), style="bold"))
    console.print(RichText(t("stats_due", lang, today=stats["due_today"], week=stats["due_this_week"])))
    table = Table(title=t("stats_topics", lang), title_justify="left")
    for key in ("col_topic", "col_mastery", "col_learned", "col_seen", "col_accuracy"):
        table.add_column(t(key, lang))
    for topic in stats["topics"]:
        mastery = topic["mastery"] or 0.0
        filled = round(mastery * BAR_WIDTH)
        bar = RichText("█" * filled, style="green").append("░" * (BAR_WIDTH - filled), style="dim")
        bar.append(f" {mastery:.0%}")
        topic_accuracy = "—" if topic["accuracy"] is None else f"{topic['accuracy']:.0%}"
        table.add_row(topic["title"][lang] if topic.get("title") else topic["topic"], bar, f"{topic['learned']}/{topic['questions']}",
                      f"{topic['seen']}/{topic['questions']}", topic_accuracy)
    console.print(table)
    if stats["leeches"]:
        console.print(RichText(t("stats_leeches", lang, threshold=stats["leech_threshold"]), style="bold yellow"))
        for leech in stats["leeches"]:
            console.print(RichText(f"  {leech['id']} ({leech['lapses']}×): {leech['prompt'][lang].strip().splitlines()[0]}"))
    totals = stats.get("exercise_totals") or {}
    if stats["exercises"] or totals.get("total"):
        from datetime import datetime

        from mhaquiz.practice.view import best_text

        from mhaquiz.practice.view import track_name

        # NumPy alone: one heading as ever; once a PyTorch grade exists, one heading per track practised
        tracks = ["numpy"] + [track for track in ("torch",) if any(e.get("track") == track for e in stats["exercises"])]
        by_track = stats.get("exercise_totals_by_track") or {"numpy": totals}
        for track in tracks:
            key = "stats_exercises" if len(tracks) == 1 else "stats_exercises_track"
            heading = RichText(t(key, lang, track=track_name(track, lang)), style="bold")
            if by_track.get(track):
                heading.append(("" if lang == "zh" else " ") + t("stats_exercise_totals", lang, **by_track[track]), style="")
            console.print(heading)
            for exercise in stats["exercises"]:
                if exercise.get("track", "numpy") != track:
                    continue
                line = t(f"exercise_{exercise['status']}", lang, id=exercise["id"], attempts=exercise["attempts"])
                when = exercise.get("best_graded_at")
                best = best_text(exercise["best"], datetime.fromisoformat(when) if when else None, lang)
                console.print(RichText(line + (" · " + t("stats_best", lang, best=best) if best else "")))
        due = stats.get("exercises_due") or {}
        if due.get("today") or due.get("week"):
            console.print(RichText(t("stats_exercises_due", lang, today=due.get("today", 0), week=due.get("week", 0))))
    if stats.get("mistakes"):
        console.print(RichText(t("stats_mistakes", lang), style="bold"))
        for mistake in stats["mistakes"]:
            console.print(RichText(t("stats_mistake", lang, count=mistake["count"], title=mistake["title"][lang],
                                     exercise=mistake["exercise"])))
