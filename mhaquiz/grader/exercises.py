"""The exercise registry: one folder per exercise under exercises/, one reference under solutions/.

exercises/<id>/ holds exercise.yaml (order, title, hints), prompt.en.md, prompt.zh.md, stub.py (the exact
signatures: the functions it defines are the ones a submission must define) and checks.py (cases and
mistakes). solutions/<id>.py is the reference, itself a passing submission. Nothing else needs editing to
add an exercise.

Tracks: the NumPy track is the one above. An exercise has a PyTorch track too when it has torch/stub.py
(the classes and functions a PyTorch submission defines: an nn.Module, a torch.autograd.Function),
torch/prompt.en.md and torch/prompt.zh.md, a `torch_call` in checks.py (how a PyTorch submission is run on
a case) and solutions/torch/<id>.py (its PyTorch reference, itself a passing submission). Both tracks are
graded on the same cases against the same NumPy reference.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import re
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Dict, FrozenSet, List, Tuple

from mhaquiz.errors import MhaquizError
from mhaquiz.i18n import Text, join_cjk_lines
from mhaquiz.paths import content_dir

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
TRACKS = ("numpy", "torch")  # the languages a submission may be written in


@dataclass(frozen=True)
class Exercise:
    """An exercise found on disk; everything about it is read lazily from its folder."""

    id: str
    folder: Path

    @property
    def stub_path(self) -> Path:
        return self.folder / "stub.py"

    @property
    def checks_path(self) -> Path:
        return self.folder / "checks.py"

    @property
    def solution_path(self) -> Path:
        return content_dir("solutions") / f"{self.id}.py"

    @cached_property
    def functions(self) -> tuple:
        """The functions a NumPy submission must define: the stub's `__all__` if it has one, else its functions."""
        return _contract_names(self.stub_path)

    def stub_path_for(self, track: str) -> Path:
        return self.stub_path if track == "numpy" else self.folder / "torch" / "stub.py"

    def solution_path_for(self, track: str) -> Path:
        return self.solution_path if track == "numpy" else content_dir("solutions") / "torch" / f"{self.id}.py"

    @cached_property
    def tracks(self) -> tuple:
        """The tracks this exercise can be done in ("numpy", and "torch" when it has a PyTorch form)."""
        return tuple(track for track in TRACKS
                     if self.stub_path_for(track).is_file() and self.solution_path_for(track).is_file())

    def functions_for(self, track: str) -> tuple:
        """What a submission in `track` must define: functions (NumPy); classes or functions (PyTorch)."""
        return self.functions if track == "numpy" else _contract_names(self.stub_path_for(track))

    def prompt_for(self, lang: str, track: str) -> str:
        """The task of `track` in `lang` (Markdown)."""
        if track == "numpy":
            return self.prompt(lang)
        text = (self.folder / "torch" / f"prompt.{lang}.md").read_text(encoding="utf-8")
        return join_cjk_lines(text) if lang == "zh" else text

    def solution_source_for(self, track: str) -> str:
        return self.solution_source if track == "numpy" else self.solution_path_for(track).read_text(encoding="utf-8")

    @cached_property
    def meta(self) -> dict:
        """exercise.yaml: order, title {zh, en}, hints [{zh, en}], building_block, auto_detect."""
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser: a safe loader, ~10x faster
        return yaml.load((self.folder / "exercise.yaml").read_text(encoding="utf-8"), Loader=loader) or {}

    @property
    def aliases(self) -> tuple:
        """Former ids of this exercise (exercise.yaml `aliases`): still accepted everywhere."""
        return tuple(self.meta.get("aliases") or ())

    @property
    def title(self) -> Text:
        """The exercise's title, {zh, en} from exercise.yaml (the id when missing)."""
        title = self.meta.get("title") or {}
        return Text(zh=title.get("zh") or title.get("en") or self.id, en=title.get("en") or title.get("zh") or self.id)

    def prompt(self, lang: str) -> str:
        """The task in `lang` (Markdown), soft line breaks inside Chinese sentences joined."""
        text = (self.folder / f"prompt.{lang}.md").read_text(encoding="utf-8")
        return join_cjk_lines(text) if lang == "zh" else text

    @cached_property
    def checks_source(self) -> str:
        return self.checks_path.read_text(encoding="utf-8")

    @cached_property
    def solution_source(self) -> str:
        return self.solution_path.read_text(encoding="utf-8")

    def checks(self) -> ModuleType:
        """The exercise's checks.py, imported once (our own code, not the submission's)."""
        return checks_module(self.id)

    @cached_property
    def _solution_code(self):
        """The reference solution, read and compiled once per process."""
        return compile(self.solution_source, str(self.solution_path), "exec")

    def reference(self) -> ModuleType:
        """A fresh instance of the reference solution module (fresh, so mutants can patch it)."""
        module = ModuleType(f"mhaquiz_solution_{self.id}")
        module.__file__ = str(self.solution_path)
        exec(self._solution_code, module.__dict__)
        return module


def _contract_names(stub: Path) -> tuple:
    """The names a stub asks for: its `__all__` if it has one, else its top-level functions and classes."""
    tree = ast.parse(stub.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    return tuple(node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef)))


def imports_torch(tree: ast.Module) -> bool:
    """The file imports torch (`import torch`, `from torch import nn`, ...): a PyTorch-track submission."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(alias.name.split(".")[0] == "torch" for alias in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch" and not node.level:
            return True
    return False


_modules: Dict[str, ModuleType] = {}
_provided: Dict[str, Tuple[str, str]] = {}  # exercise id -> (path, source) of its checks.py, in the worker


def provide_checks(sources: Dict[str, Tuple[str, str]]) -> None:
    """In the sandboxed worker, where the exercise folders are hidden: the checks' sources the job carried."""
    _provided.update(sources)


def checks_module(exercise_id: str) -> ModuleType:
    """An exercise's checks.py as a module, imported once: from its folder, or (in the worker) from the source
    the job carried. A checks.py may use another exercise's checks through this (repair_article_code does)."""
    name = f"mhaquiz_checks_{exercise_id}"
    if name in _modules:
        return _modules[name]
    if exercise_id in _provided:
        path, source = _provided[exercise_id]
        module = ModuleType(name)
        module.__file__ = path
        sys.modules[name] = module  # dataclasses look their module up here
        _modules[name] = module
        exec(compile(source, path, "exec"), module.__dict__)
        return module
    return import_file(get_exercise(exercise_id).checks_path, name)


def import_file(path: Path, name: str) -> ModuleType:
    """Import a Python file of ours by path under `name`, once per process."""
    if name in _modules:
        return _modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up here
    spec.loader.exec_module(module)
    _modules[name] = module
    return module


REQUIRED_FILES = ("exercise.yaml", "stub.py", "checks.py")


@functools.lru_cache(maxsize=None)
def all_exercises() -> Tuple[Exercise, ...]:
    """Every complete exercise (exercise.yaml, stub.py, checks.py and solutions/<id>.py present), sorted by id.

    Scanned once per process, so each exercise's stub, metadata and reference are read once too.
    """
    found = (Exercise(folder.name, folder) for folder in sorted(content_dir("exercises").iterdir())
             if _ID.match(folder.name) and all((folder / name).is_file() for name in REQUIRED_FILES))
    return tuple(exercise for exercise in found if exercise.solution_path.is_file())


_NO_ORDER = 10**9  # exercises without `order` sort last


def curriculum() -> List[Exercise]:
    """Every exercise in learning order (`order` from exercise.yaml, then id)."""

    def key(exercise: Exercise):
        order = exercise.meta.get("order")
        return (order if isinstance(order, (int, float)) and not isinstance(order, bool) else _NO_ORDER, exercise.id)

    return sorted(all_exercises(), key=key)


def get_exercise(exercise_id: str) -> Exercise:
    """The exercise with this id (or a former id of it, its `aliases`); an unknown (or path-like) id is a
    usage error listing the valid ones."""
    known = {exercise.id: exercise for exercise in all_exercises()}
    for exercise in all_exercises():
        for alias in exercise.aliases:
            known.setdefault(alias, exercise)
    if exercise_id not in known:
        valid = ", ".join(sorted(exercise.id for exercise in all_exercises()))
        raise MhaquizError("error.unknown_exercise", id=exercise_id, valid=valid)
    return known[exercise_id]


def defined_names(tree: ast.Module) -> FrozenSet[str]:
    """Top-level names a parsed module defines (functions, classes, assignments, imports)."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(target.id for target in targets if isinstance(target, ast.Name))
    return frozenset(names)


def detect(names: FrozenSet[str], file_stem: str = "", track: str = "numpy") -> List[Exercise]:
    """The exercises of `track` whose functions (classes, for PyTorch) are all defined.

    An exercise marked `auto_detect: false` is graded only when named: by --exercise, or by the file's name
    (repair_article_code.py, as `mhaquiz start` writes it, or a former id's name). When several match, those
    drop out, and so do building
    blocks (softmax, ... which bigger submissions define as helpers): of those alone, the latest wins.
    """
    found = [exercise for exercise in all_exercises()
             if track in exercise.tracks and set(exercise.functions_for(track)) <= names]
    named = [exercise for exercise in found if file_stem in (exercise.id, *exercise.aliases)
             and not exercise.meta.get("auto_detect", True)]
    if named:
        return named
    if len(found) > 1:
        found = [exercise for exercise in found if exercise.meta.get("auto_detect", True)] or found
        whole = [exercise for exercise in found if not exercise.meta.get("building_block", False)]
        # Only building blocks: the latest in the curriculum uses the others as helpers (attention, softmax).
        found = whole or [max(found, key=lambda exercise: exercise.meta.get("order", 0))]
    return found
