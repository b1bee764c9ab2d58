"""The question bank: YAML files loaded safely, validated, every problem reported as `file:line: problem`.

Schema (see questions/README.md): each file has `topic: <id>`, an optional `title: {zh, en}` (the topic's
name as learners read it) and `questions: [...]`; each question has `id`, `type` (open|mcq|numeric),
`prompt`, `answer`, and by type `key_points` (open) or `choices` (mcq); optionally `difficulty`
(easy|medium|hard, default medium), `explanation`, `source` and `origin`.
- open: `answer: {zh, en}` and `key_points: [{zh, en}, ...]`;
- mcq: `choices: {a: {zh, en}, ...}` and `answer: [a, ...]`;
- numeric: `answer: {formula, params, tolerance, unit}`; the formula (mhaquiz/quiz/formulas.py) computes
  the answer, a list parameter is drawn at random, `{name}` in the prompt and explanation is filled in.

A text is `{zh, en}`, or one of them, or a plain string (its language read from its characters). A
question is asked in the languages all its texts have. The built-in bank is loaded `strict`: every text in
both languages, every question with a difficulty, an explanation and a source, every file with a title.
Chinese text has the spaces YAML folding put between CJK characters removed (`i18n.fold_cjk`).

Loading never executes anything: only the safe YAML tags are accepted, and any other tag
(`!!python/object/apply:...`) is reported as a problem before a single value is constructed.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Union

import yaml

from mhaquiz.errors import MhaquizError
from mhaquiz.i18n import Text, contains_cjk, fold_cjk

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser is ~10x faster

LANGS = ("zh", "en")
DIFFICULTIES = ("easy", "medium", "hard")
TYPES = ("open", "mcq", "numeric")
ID_PATTERN = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")  # questions/README.md states the same
TOPIC_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*")
CHOICE_KEY_PATTERN = re.compile(r"[a-z]")
COMMON_FIELDS = {"id", "difficulty", "type", "prompt", "explanation", "source", "origin", "answer"}
FILE_FIELDS = ("topic", "title", "questions")
DEFAULT_DIFFICULTY = "medium"
TYPE_FIELDS = {"open": {"key_points"}, "mcq": {"choices"}, "numeric": set()}
NUMERIC_ANSWER_FIELDS = {"formula", "params", "tolerance", "unit"}
SAFE_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map")}
MAX_CHECKED_DRAWS = 4096  # numeric questions: every combination of list params is tried, up to this many

Scalar = Union[int, float, str, bool]


@dataclass(frozen=True)
class NumericAnswer:
    """How a numeric answer is computed: `FORMULAS[formula](**drawn params)`, compared with `tolerance`."""

    formula: str
    params: dict[str, Union[Scalar, tuple[Scalar, ...]]]
    tolerance: float
    unit: Text | None


@dataclass(frozen=True)
class Question:
    """One validated question; the type-specific fields are empty for the other types."""

    id: str
    topic: str
    difficulty: str
    type: str
    prompt: Text
    explanation: Text | None
    source: str | None
    location: str  # "file:line", for messages
    origin: str | None = None
    answer_text: Text | None = None  # open
    key_points: tuple[Text, ...] = ()  # open
    choices: dict[str, Text] = field(default_factory=dict)  # mcq
    correct_choices: frozenset[str] = frozenset()  # mcq
    numeric: NumericAnswer | None = None  # numeric

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages every text needed to ask the question exists in (zh first)."""
        texts = [self.prompt, self.answer_text, *self.key_points, *self.choices.values()]
        common = frozenset(LANGS).intersection(*(text.languages for text in texts if text is not None))
        return tuple(lang for lang in LANGS if lang in common)

    def language_for(self, lang: str) -> str:
        """`lang` if the question exists in it, else the language it is written in."""
        return lang if lang in self.languages else self.languages[0]

    def summary(self) -> dict:
        """The JSON-friendly listing used by `mhaquiz questions --json`."""
        return {
            "id": self.id,
            "topic": self.topic,
            "difficulty": self.difficulty,
            "type": self.type,
            "languages": list(self.languages),
            "prompt": {lang: self.prompt(lang) for lang in self.languages},
            "source": self.source,
            "location": self.location,
        }


@dataclass
class Bank:
    """All questions of a bank, in file order, and each topic's name."""

    questions: list[Question]
    topic_titles: dict[str, Text] = field(default_factory=dict)

    def topic_title(self, topic: str, lang: str) -> str:
        """The topic's name in `lang` (its slug when the bank gives none)."""
        title = self.topic_titles.get(topic)
        return title(lang) if title is not None else topic

    @property
    def topics(self) -> list[str]:
        return sorted({question.topic for question in self.questions})

    def by_id(self) -> dict[str, Question]:
        return {question.id: question for question in self.questions}

    def select(self, topic: str | None = None, difficulty: str | None = None) -> list[Question]:
        """The questions of `topic` and `difficulty`; an unknown value is a usage error listing the valid ones."""
        if topic is not None and topic not in self.topics:
            raise MhaquizError("error.unknown_topic", topic=topic, valid=", ".join(self.topics))
        if difficulty is not None and difficulty not in DIFFICULTIES:
            raise MhaquizError("error.unknown_difficulty", difficulty=difficulty, valid=", ".join(DIFFICULTIES))
        return [
            question
            for question in self.questions
            if (topic is None or question.topic == topic) and (difficulty is None or question.difficulty == difficulty)
        ]


def load_bank(path: Path | None = None, strict: bool | None = None) -> Bank:
    """Load and validate the bank at `path` (a .yaml file or a folder of them); default: the built-in one.

    `strict` (default: for the built-in bank only) demands both languages everywhere, an explanation and a
    source. Raises MhaquizError (exit 2) listing every problem found, one `file:line: problem` per line.
    """
    from mhaquiz.paths import content_dir

    root = Path(path) if path is not None else content_dir("questions")
    strict = path is None if strict is None else strict
    files = _bank_files(root)
    questions: list[Question] = []
    titles: dict[str, Text] = {}
    problems: list[str] = []
    files_with_problems: set[Path] = set()
    first_location: dict[str, str] = {}
    for file in files:
        display = _display_path(file)
        loader = _FileLoader(file, display, strict)
        file_questions, file_problems = loader.load()
        if loader.topic and loader.title is not None:
            titles.setdefault(loader.topic, loader.title)
        for question in file_questions:
            if question.id in first_location:
                file_problems.append(f"{question.location}: duplicate id {question.id!r} (first at {first_location[question.id]})")
            else:
                first_location[question.id] = question.location
                questions.append(question)
        if file_problems:
            problems.extend(file_problems)
            files_with_problems.add(file)
    if problems:
        raise MhaquizError("error.bank_problems", path=_display_path(root), count=len(problems),
                           files=len(files_with_problems), problems="\n".join(problems))
    return Bank(questions, titles)


def formula_registry() -> dict[str, Callable[..., float]]:
    """The formulas numeric answers may name (imported on first use)."""
    from mhaquiz.quiz.formulas import FORMULAS

    return FORMULAS


def parameter_draws(answer: NumericAnswer) -> Iterator[dict[str, Scalar]]:
    """Every combination of the answer's parameters (a list parameter contributes each of its values)."""
    names = list(answer.params)
    options = [value if isinstance(value, tuple) else (value,) for value in answer.params.values()]
    for combination in itertools.product(*options):
        yield dict(zip(names, combination))


def format_number(value: float) -> str:
    """A number as people write it: 1,050,624 for whole numbers, 6 significant digits otherwise."""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.6g}"


def fill_numeric(question: Question, params: dict[str, Scalar]) -> tuple[Text, Text, float]:
    """Prompt and explanation with `{name}` filled from `params` (and `{answer}`), and the computed answer."""
    assert question.numeric is not None
    answer = formula_registry()[question.numeric.formula](**params)
    shown = format_number(answer)
    prompt = question.prompt.map(lambda text: text.format(**params))
    explanation = question.explanation.map(lambda text: text.format(**params, answer=shown)) if question.explanation else None
    return prompt, explanation, answer


def _bank_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if root.is_dir():
        files = sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if files:
            return files
        raise MhaquizError("error.bank_empty", path=_display_path(root))
    raise MhaquizError("error.no_bank", path=root)


def _display_path(path: Path) -> str:
    """`path` relative to the working directory when it is below it, else absolute."""
    absolute = path.resolve()
    try:
        relative = os.path.relpath(absolute)
    except ValueError:  # another drive on Windows
        return str(absolute)
    return str(absolute) if relative.startswith("..") else relative


class _FileLoader:
    """Validates one file, collecting every problem with its line instead of stopping at the first."""

    def __init__(self, path: Path, display: str, strict: bool = True):
        self.path = path
        self.display = display
        self.strict = strict
        self.problems: list[str] = []
        self.loader: yaml.SafeLoader | None = None
        self.topic = ""
        self.title: Text | None = None

    def load(self) -> tuple[list[Question], list[str]]:
        root = self._compose()
        if root is None:
            return [], self.problems
        try:
            return self._questions(root), self.problems
        finally:
            self.loader.dispose()

    def problem(self, node: yaml.Node | None, message: str) -> None:
        where = f"{self.display}:{node.start_mark.line + 1}" if node is not None else self.display
        self.problems.append(f"{where}: {message}")

    # --- reading -------------------------------------------------------------------------

    def _compose(self) -> yaml.Node | None:
        data = self.path.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = data.count(b"\n", 0, error.start) + 1
            self.problems.append(
                f"{self.display}:{line}: not UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start}); save the file as UTF-8"
            )
            return None
        self.loader = Loader(text)
        try:
            root = self.loader.get_single_node()
        except yaml.YAMLError as error:
            self.loader.dispose()
            mark = getattr(error, "problem_mark", None)
            where = f"{self.display}:{mark.line + 1}" if mark is not None else self.display
            reason = getattr(error, "problem", None) or str(error)
            self.problems.append(f"{where}: YAML syntax error: {reason}")
            return None
        if root is None:
            self.loader.dispose()
            self.problems.append(f"{self.display}: empty file (expected `topic:` and `questions:`)")
            return None
        unsafe = [node for node in _walk(root) if node.tag not in SAFE_TAGS]
        for node in unsafe:
            self.problem(node, f"tag {node.tag.replace('tag:yaml.org,2002:', '!!')} is not allowed (the bank is loaded safely; nothing was run)")
        if unsafe:
            self.loader.dispose()
            return None
        if self.strict:
            self._check_plain_scalars_not_cut(root, text)
        return root

    def _check_plain_scalars_not_cut(self, root: yaml.Node, text: str) -> None:
        """Strict: an unquoted (plain) scalar followed by ` #` on its line was cut there by YAML, the rest read as
        a comment (`issue #51102` -> `issue`); report it at the line of the cut."""
        for node in _walk(root):
            if isinstance(node, yaml.ScalarNode) and node.style in (None, ""):
                end = node.end_mark.index
                line_end = text.find("\n", end)
                rest = text[end:line_end if line_end >= 0 else None]
                if rest.lstrip(" \t").startswith("#"):
                    self.problems.append(
                        f"{self.display}:{node.end_mark.line + 1}: unquoted text {_shorten(node.value)!r} is cut at ' #': "
                        "YAML reads the rest of the line as a comment; quote the text"
                    )

    def _scalar(self, node: yaml.Node) -> object:
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.Node, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        """A mapping node's entries by key, reporting a non-mapping and duplicate keys."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} must be a mapping")
            return None
        entries: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = str(self._scalar(key_node)) if isinstance(key_node, yaml.ScalarNode) else None
            if key is None:
                self.problem(key_node, f"{what}: keys must be plain names")
            elif key in entries:
                self.problem(key_node, f"{what}: key {key!r} appears twice")
            else:
                entries[key] = (key_node, value_node)
        return entries

    # --- validating ----------------------------------------------------------------------

    def _questions(self, root: yaml.Node) -> list[Question]:
        top = self._mapping(root, "the file")
        if top is None:
            return []
        for key, (key_node, _) in top.items():
            if key not in FILE_FIELDS:
                self.problem(key_node, f"unknown field {key!r} (a file has `topic:`, `title:` and `questions:`)")
        topic = self.topic = self._topic(root, top)
        if "title" in top:
            self.title = self._bilingual(top["title"][1], "title")
        elif self.strict:
            self.problem(root, "missing `title: {zh, en}` (the topic's name as learners read it)")
        if "questions" not in top:
            self.problem(root, "missing `questions:` list")
            return []
        items = top["questions"][1]
        if not isinstance(items, yaml.SequenceNode) or not items.value:
            self.problem(items, "`questions:` must be a non-empty list")
            return []
        questions = [self._question(node, index, topic) for index, node in enumerate(items.value)]
        return [question for question in questions if question is not None]

    def _topic(self, root: yaml.Node, top: dict) -> str:
        if "topic" not in top:
            self.problem(root, "missing `topic:`")
            return ""
        node = top["topic"][1]
        topic = self._scalar(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(topic, str) or not TOPIC_PATTERN.fullmatch(topic):
            self.problem(node, "topic must be an id of lowercase letters, digits, - or _")
            return ""
        return topic

    def _question(self, node: yaml.Node, index: int, topic: str) -> Question | None:
        fields = self._mapping(node, f"question #{index + 1}")
        if fields is None:
            return None
        before = len(self.problems)
        qid = self._id(node, fields, index)
        label = f"question {qid!r}" if qid else f"question #{index + 1}"
        if "difficulty" in fields or self.strict:
            difficulty = self._choice(node, fields, "difficulty", DIFFICULTIES, label)
        else:
            difficulty = DEFAULT_DIFFICULTY
        qtype = self._choice(node, fields, "type", TYPES, label)
        allowed = COMMON_FIELDS | TYPE_FIELDS.get(qtype, set().union(*TYPE_FIELDS.values()))
        for key, (key_node, _) in fields.items():
            if key not in allowed:
                used_by = [name for name, extra in TYPE_FIELDS.items() if key in extra]
                hint = f" (used by {used_by[0]} questions)" if used_by else ""
                self.problem(key_node, f"{label}: unknown field {key!r}{hint}")
        prompt = self._text(node, fields, "prompt", label)
        explanation = self._text(node, fields, "explanation", label, required=self.strict)
        source = self._string(node, fields, "source", label, required=self.strict)
        origin = self._string(node, fields, "origin", label, required=False)
        details: dict = {}
        if "answer" not in fields:
            self.problem(node, f"{label}: missing answer")
        elif qtype == "open":
            details = self._open_answer(node, fields, label)
        elif qtype == "mcq":
            details = self._mcq_answer(node, fields, label)
        elif qtype == "numeric":
            details = self._numeric_answer(fields, label)
        if len(self.problems) > before:
            return None
        texts = [prompt, details.get("answer_text"), *details.get("key_points", ()), *details.get("choices", {}).values()]
        if not frozenset(LANGS).intersection(*(text.languages for text in texts if text is not None)):
            self.problem(node, f"{label}: its prompt, answer, key points and choices share no language "
                               "(write them all in zh, or all in en, or both)")
            return None
        question = Question(
            id=qid, topic=topic, difficulty=difficulty, type=qtype, prompt=prompt, explanation=explanation,
            source=source, origin=origin, location=f"{self.display}:{node.start_mark.line + 1}", **details,
        )
        if qtype == "numeric":
            self._check_draws(question, fields["answer"][1], label)
        return question if len(self.problems) == before else None

    def _id(self, node: yaml.Node, fields: dict, index: int) -> str:
        if "id" not in fields:
            self.problem(node, f"question #{index + 1}: missing id")
            return ""
        value_node = fields["id"][1]
        qid = self._scalar(value_node) if isinstance(value_node, yaml.ScalarNode) else None
        if not isinstance(qid, str) or not ID_PATTERN.fullmatch(qid):
            self.problem(value_node, f"question #{index + 1}: id must be lowercase letters and digits, in words joined by single hyphens")
            return ""
        return qid

    def _choice(self, node: yaml.Node, fields: dict, name: str, valid: tuple[str, ...], label: str) -> str:
        if name not in fields:
            self.problem(node, f"{label}: missing {name} (one of {', '.join(valid)})")
            return ""
        value_node = fields[name][1]
        value = self._scalar(value_node) if isinstance(value_node, yaml.ScalarNode) else None
        if value not in valid:
            self.problem(value_node, f"{label}: unknown {name} {value!r} (one of {', '.join(valid)})")
            return ""
        return value

    def _string(self, node: yaml.Node, fields: dict, name: str, label: str, required: bool = True) -> str | None:
        if name not in fields:
            if required:
                self.problem(node, f"{label}: missing {name}")
            return None
        value_node = fields[name][1]
        value = self._scalar(value_node) if isinstance(value_node, yaml.ScalarNode) else None
        if not isinstance(value, str) or not value.strip():
            self.problem(value_node, f"{label}: {name} must be non-empty text")
            return None
        return value

    def _text(self, node: yaml.Node, fields: dict, name: str, label: str, required: bool = True) -> Text | None:
        if name not in fields:
            if required:
                self.problem(node, f"{label}: missing {name}")
            return None
        return self._bilingual(fields[name][1], f"{label}: {name}")

    def _bilingual(self, node: yaml.Node, what: str) -> Text | None:
        """A `{zh, en}` mapping (strict: both; else at least one), or, when not strict, a plain string whose
        language is read from its characters. Numbers are accepted as text (a choice may read `8`)."""
        if not self.strict and isinstance(node, yaml.ScalarNode):
            value = self._text_value(node, what)
            if value is None:
                return None
            return Text(zh=fold_cjk(value)) if contains_cjk(value) else Text(en=value)
        entries = self._mapping(node, f"{what} (with zh and en)" if self.strict else f"{what} (with zh and/or en)")
        if entries is None:
            return None
        values = {}
        for lang in LANGS:
            if lang not in entries:
                if self.strict:
                    self.problem(node, f"{what}: missing {lang}")
                continue
            value = self._text_value(entries[lang][1], f"{what}.{lang}")
            if value is not None:
                values[lang] = fold_cjk(value) if lang == "zh" else value
        for key, (key_node, _) in entries.items():
            if key not in LANGS:
                self.problem(key_node, f"{what}: unknown language {key!r} (zh and en)")
        if not values and not self.strict and not any(lang in entries for lang in LANGS):
            self.problem(node, f"{what}: needs zh or en")
        complete = len(values) == len(LANGS) if self.strict else bool(values) and len(values) == len(
            [lang for lang in LANGS if lang in entries])
        return Text(**values) if complete else None

    def _text_value(self, node: yaml.Node, what: str) -> str | None:
        value = self._scalar(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) or not str(value).strip():
            self.problem(node, f"{what} must be non-empty text")
            return None
        return str(value)

    def _open_answer(self, node: yaml.Node, fields: dict, label: str) -> dict:
        answer = self._bilingual(fields["answer"][1], f"{label}: answer")
        if "key_points" not in fields:
            self.problem(node, f"{label}: missing key_points")
            return {}
        items = fields["key_points"][1]
        if not isinstance(items, yaml.SequenceNode) or not items.value:
            self.problem(items, f"{label}: key_points must be a non-empty list of {{zh, en}}")
            return {}
        points = [self._bilingual(item, f"{label}: key point {i + 1}") for i, item in enumerate(items.value)]
        return {"answer_text": answer, "key_points": tuple(points)}

    def _mcq_answer(self, node: yaml.Node, fields: dict, label: str) -> dict:
        if "choices" not in fields:
            self.problem(node, f"{label}: missing choices")
            return {}
        entries = self._mapping(fields["choices"][1], f"{label}: choices")
        if entries is None:
            return {}
        choices = {}
        for key, (key_node, value_node) in entries.items():
            if not CHOICE_KEY_PATTERN.fullmatch(key):
                self.problem(key_node, f"{label}: choice key {key!r} must be one lowercase letter")
            choices[key] = self._bilingual(value_node, f"{label}: choice {key}")
        if len(choices) < 2:
            self.problem(fields["choices"][1], f"{label}: an mcq needs at least two choices")
        answer_node = fields["answer"][1]
        if isinstance(answer_node, yaml.ScalarNode):
            keys = [self._scalar(answer_node)]
        elif isinstance(answer_node, yaml.SequenceNode) and all(isinstance(n, yaml.ScalarNode) for n in answer_node.value):
            keys = [self._scalar(n) for n in answer_node.value]
        else:
            keys = []
        if not keys:
            self.problem(answer_node, f"{label}: answer must list the correct choice letters, e.g. [a]")
            return {}
        for key in keys:
            if key not in choices:
                valid = ", ".join(choices) or "none"
                self.problem(answer_node, f"{label}: answer {key!r} is not one of its choices ({valid})")
        return {"choices": choices, "correct_choices": frozenset(str(key) for key in keys)}

    def _numeric_answer(self, fields: dict, label: str) -> dict:
        answer_node = fields["answer"][1]
        entries = self._mapping(answer_node, f"{label}: numeric answer (formula, params, tolerance)")
        if entries is None:
            return {}
        for key, (key_node, _) in entries.items():
            if key not in NUMERIC_ANSWER_FIELDS:
                self.problem(key_node, f"{label}: unknown answer field {key!r} (formula, params, tolerance, unit)")
        formula = self._string(answer_node, entries, "formula", f"{label}: answer")
        if formula is not None and formula not in formula_registry():
            self.problem(entries["formula"][1], f"{label}: unknown formula {formula!r} (see mhaquiz/quiz/formulas.py)")
        params = self._params(entries, label)
        tolerance = 0.0
        if "tolerance" in entries:
            tolerance_node = entries["tolerance"][1]
            value = self._scalar(tolerance_node) if isinstance(tolerance_node, yaml.ScalarNode) else None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                self.problem(tolerance_node, f"{label}: tolerance must be a relative error >= 0 (0 = exact)")
            else:
                tolerance = float(value)
        unit = self._bilingual(entries["unit"][1], f"{label}: unit") if "unit" in entries else None
        return {"numeric": NumericAnswer(formula=formula, params=params, tolerance=tolerance, unit=unit)}

    def _params(self, entries: dict, label: str) -> dict:
        if "params" not in entries:
            return {}
        mapping = self._mapping(entries["params"][1], f"{label}: params")
        params: dict = {}
        for name, (_, value_node) in (mapping or {}).items():
            if isinstance(value_node, yaml.SequenceNode) and value_node.value and all(
                isinstance(n, yaml.ScalarNode) for n in value_node.value
            ):
                params[name] = tuple(self._scalar(n) for n in value_node.value)
            elif isinstance(value_node, yaml.ScalarNode):
                params[name] = self._scalar(value_node)
            else:
                self.problem(value_node, f"{label}: param {name!r} must be a value or a non-empty list of values")
        return params

    def _check_draws(self, question: Question, answer_node: yaml.Node, label: str) -> None:
        """Compute the answer and fill the text for every draw, so a bad combination fails at load, not mid-session."""
        for params in itertools.islice(parameter_draws(question.numeric), MAX_CHECKED_DRAWS):
            try:
                _, _, answer = fill_numeric(question, params)
            except (KeyError, IndexError, ValueError, TypeError, ArithmeticError, AttributeError) as error:
                self.problem(answer_node, f"{label}: with params {params}: {_explain(error)}")
                return
            if isinstance(answer, bool) or not isinstance(answer, (int, float)) or answer != answer or abs(answer) == float("inf"):
                self.problem(answer_node, f"{label}: formula {question.numeric.formula!r} gave {answer!r} for params {params}, not a finite number")
                return


def _explain(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"placeholder {{{error.args[0]}}} has no param of that name"
    return f"{type(error).__name__}: {error}"


def _walk(node: yaml.Node) -> Iterator[yaml.Node]:
    """Every node of the tree (a YAML file's tree has no cycles unless it uses aliases; those repeat, harmlessly)."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                stack.extend((key, value))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)



def _shorten(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"
