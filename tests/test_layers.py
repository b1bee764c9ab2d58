"""One direction in the house: each part of the package imports only what lies below it.

    commands   cli, doctor, anki, __main__
    overview   what spans questions and exercises (stats)
    practice   the practice loop: exercises as a learner practises them, the mock interview
    quiz       questions, scheduling, asking          grader   the sandboxed grader (side by side, apart)
    base       errors, i18n, locales, paths, clock, console, store

Every import is read from the source with ast, at any depth (the CLI imports inside its commands), so a lazy
import cannot hide an arrow that runs back up.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mhaquiz"
LAYERS = {"base": 0, "grader": 1, "quiz": 1, "practice": 2, "overview": 3, "commands": 4}
BASE = {"errors", "i18n", "locales", "paths", "clock", "console", "store", "__init__"}
COMMANDS = {"cli", "doctor", "anki", "__main__"}


def part(module: str) -> str:
    """The part a dotted module name (mhaquiz.x.y) belongs to."""
    top = module.split(".")[1] if module.count(".") else "__init__"
    if top in BASE:
        return "base"
    if top in COMMANDS:
        return "commands"
    if top in ("grader", "quiz", "practice", "overview"):
        return top
    raise AssertionError(f"{module}: a module no layer holds; add it to tests/test_layers.py")


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts) if len(parts) > 1 else "mhaquiz.__init__"


def imports(source: str, module: str) -> set:
    """Every mhaquiz module `source` imports, anywhere in it (relative imports resolved against `module`)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "mhaquiz"}
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level:
                base = module.split(".")[: -node.level]
                name = ".".join(base + ([name] if name else []))
            if name == "mhaquiz":  # from mhaquiz import clock: the names are modules (or __version__)
                found |= {f"mhaquiz.{alias.name}" for alias in node.names if alias.name != "__version__"}
            elif name.split(".")[0] == "mhaquiz":
                found.add(name)
    return found


def arrows() -> list:
    """(importing module, imported module) for every mhaquiz import in the package."""
    pairs = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "_content" in path.parts:
            continue
        module = module_name(path)
        pairs += [(module, target) for target in imports(path.read_text(encoding="utf-8"), module)]
    return pairs


def wrong_way(pairs) -> list:
    """The arrows that run up, or sideways between the grader and the quiz."""
    bad = []
    for source, target in pairs:
        here, there = part(source), part(target)
        if here == there:
            continue
        if LAYERS[there] >= LAYERS[here]:
            bad.append(f"{source} -> {target} ({here} imports {there})")
    return bad


def test_every_import_runs_down():
    assert wrong_way(arrows()) == []


def test_the_practice_loop_and_the_overview_are_packages_of_their_own():
    assert (PACKAGE / "practice" / "loop.py").is_file() and (PACKAGE / "practice" / "interview.py").is_file()
    assert (PACKAGE / "overview" / "stats.py").is_file()
    for gone in ("practice.py", "practice_view.py", "interview.py", "quiz/stats.py"):
        assert not (PACKAGE / gone).exists(), gone
    pairs = arrows()
    assert ("mhaquiz.overview.stats", "mhaquiz.practice.loop") in pairs  # stats reads both halves
    assert any(source.startswith("mhaquiz.practice") and target.startswith("mhaquiz.quiz") for source, target in pairs)


@pytest.mark.parametrize("source, target, why", [
    ("mhaquiz.quiz.stats", "mhaquiz.practice", "quiz imports practice"),
    ("mhaquiz.quiz.report", "mhaquiz.practice.view", "quiz imports practice"),
    ("mhaquiz.grader.grade", "mhaquiz.quiz.bank", "grader imports quiz"),
    ("mhaquiz.quiz.bank", "mhaquiz.grader.exercises", "quiz imports grader"),
    ("mhaquiz.practice.loop", "mhaquiz.overview.stats", "practice imports overview"),
    ("mhaquiz.store", "mhaquiz.quiz.schedule", "base imports quiz"),
    ("mhaquiz.overview.stats", "mhaquiz.cli", "overview imports commands"),
])
def test_the_check_catches_an_arrow_running_up(source, target, why):
    assert wrong_way([(source, target)]) == [f"{source} -> {target} ({why})"]


def test_lazy_and_relative_imports_are_seen():
    source = "def f():\n    from mhaquiz.practice.view import best_text\n    from . import bank\n    import mhaquiz.cli\n"
    assert imports(source, "mhaquiz.quiz.report") == {"mhaquiz.practice.view", "mhaquiz.quiz", "mhaquiz.cli"}
