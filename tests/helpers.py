"""Helpers shared by the grader tests: reference sources and one-edit buggy variants of them."""

from pathlib import Path

from mhaquiz.paths import content_dir


def reference_source(exercise_id: str) -> str:
    return (content_dir("solutions") / f"{exercise_id}.py").read_text(encoding="utf-8")


def with_edits(source: str, *edits) -> str:
    """Apply (old, new) replacements, failing loudly if `old` is not in the source (so edits cannot rot)."""
    for old, new in edits:
        assert old in source, f"edit target not found: {old!r}"
        source = source.replace(old, new)
    return source


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    return path
