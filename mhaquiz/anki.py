"""Export questions as an Anki deck (.apkg), for review in Anki instead of `mhaquiz ask`.

- One note type per question type (open, mcq, numeric). Card templates and CSS never depend on the export
  language: the section labels are written in both languages and the note's `Lang` field (zh, en or both)
  shows the right ones, so exporting in another language never changes a note type.
- Stable identities, so that importing an updated deck updates the notes already in Anki instead of adding
  copies: note type and deck ids are constants derived from fixed names, and a note's GUID comes from the
  question id only (`genanki.guid_for("mhaquiz", id)`), never from its text.
- `lang` both: every field shows the Chinese, then the English; a question written in one language only is
  exported in that language whatever `lang` says.
- Numeric questions are exported as one fixed instance: their parameters are drawn with a seed derived from
  the question id, so exporting again gives the same numbers.
- Every text is HTML-escaped (a bank may contain `<`, `&`, `x[i]`); line breaks become `<br>`.

genanki is imported inside `export_deck`, so importing this module (and `mhaquiz --help`) stays fast.
"""

from __future__ import annotations

import errno
import hashlib
import html
import itertools
import os
import random
import re
import secrets
import sqlite3
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from mhaquiz.errors import MhaquizError
from mhaquiz.i18n import Text, t
from mhaquiz.quiz.bank import TYPES, Question, format_number

EXPORT_LANGUAGES = ("zh", "en", "both")
DEFAULT_DECK_NAME = "mhaquiz"
GUID_NAMESPACE = "mhaquiz"
TAG = "mhaquiz"
HTML_LANG = {"zh": "zh-Hans", "en": "en"}


def stable_id(name: str) -> int:
    """A fixed Anki id for `name`: the first 8 bytes of its SHA-256, folded into [2**30, 2**31) as genanki
    advises. Never random: the same name gives the same id on every machine and every run."""
    digest = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")
    return (1 << 30) + digest % (1 << 30)


# Bump a version suffix only when a note type's fields change incompatibly (Anki then creates a new type).
MODEL_IDS = {qtype: stable_id(f"mhaquiz-{qtype}-v1") for qtype in TYPES}
DECK_ID = stable_id("mhaquiz-deck-v1")
MODEL_NAMES = {"open": "mhaquiz: open question", "mcq": "mhaquiz: multiple choice", "numeric": "mhaquiz: numeric"}

# Fields of each note type, in order. The first (Prompt) is Anki's sort field.
MODEL_FIELDS = {
    "open": ("Prompt", "Answer", "KeyPoints", "Explanation", "Source", "Topic", "Difficulty", "Id", "Lang"),
    "mcq": ("Prompt", "Choices", "Answer", "Explanation", "Source", "Topic", "Difficulty", "Id", "Lang"),
    "numeric": ("Prompt", "Tolerance", "Answer", "Explanation", "Source", "Topic", "Difficulty", "Id", "Lang"),
}

# Interface words on the cards, in both languages (the `Lang` field picks which show).
EXACT = Text(zh="精确值", en="exact")
TOLERANCE = Text(zh="允许相对误差 ±{percent}%", en="relative tolerance ±{percent}%")


@dataclass
class ExportSummary:
    """What `export_deck` wrote."""

    path: Path
    notes: int
    per_type: dict[str, int]  # every type of TYPES, zero included
    language: str  # zh | en | both, as asked
    other_language: list[str] = field(default_factory=list)  # ids exported in a language other than asked


def export_deck(
    questions: Iterable[Question],
    path: Path,
    lang: str = "both",
    deck_name: str | None = None,
    topic_titles: Mapping[str, Text] | None = None,
) -> ExportSummary:
    """Write `questions` as an Anki package (.apkg) at `path`, replacing the file if it exists.

    `lang` is zh, en or both; `topic_titles` (Bank.topic_titles) names the topics on the cards (the topic id
    otherwise). Raises MhaquizError("error.export_path", path=..., reason=...) when `path` is a directory or
    cannot be written; nothing is left behind then.
    """
    import genanki

    if lang not in EXPORT_LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(EXPORT_LANGUAGES)}, not {lang!r}")
    path = Path(path)
    questions = list(questions)
    seen: set[str] = set()
    for question in questions:
        if question.id in seen:  # the bank loader refuses duplicate ids; two notes with one GUID would merge
            raise ValueError(f"question id {question.id!r} appears twice")
        seen.add(question.id)
    if path.is_dir():
        raise MhaquizError("error.export_path", path=str(path), reason=os.strerror(errno.EISDIR))

    models = {qtype: _model(genanki, qtype) for qtype in TYPES}
    deck = genanki.Deck(DECK_ID, deck_name or DEFAULT_DECK_NAME, description=_DECK_DESCRIPTION)
    other_language: list[str] = []
    for question in questions:
        languages = _languages(question, lang)
        if languages != ((lang,) if lang != "both" else ("zh", "en")):
            other_language.append(question.id)
        fields = _fields(question, languages, topic_titles or {})
        deck.add_note(genanki.Note(
            model=models[question.type],
            fields=[fields[name] for name in MODEL_FIELDS[question.type]],
            sort_field=_plain(fields["Prompt"]),
            tags=[TAG, question.topic, question.difficulty],
            guid=note_guid(question.id),
        ))
    _write(genanki.Package(deck), path)
    counts = Counter(question.type for question in questions)
    return ExportSummary(
        path=path, notes=len(questions), per_type={qtype: counts.get(qtype, 0) for qtype in TYPES},
        language=lang, other_language=other_language,
    )


def note_guid(question_id: str) -> str:
    """The GUID of a question's note: from its id only, so an edited question updates the same note."""
    from genanki import guid_for

    return guid_for(GUID_NAMESPACE, question_id)


def numeric_rng(question_id: str) -> random.Random:
    """The generator a numeric question's one exported instance is drawn with (string seeds are stable)."""
    return random.Random(f"anki:{question_id}")


# --- fields --------------------------------------------------------------------------------------


def _languages(question: Question, lang: str) -> tuple[str, ...]:
    """The languages the question is exported in: `lang` (both = zh then en) as far as the question has them."""
    if lang == "both":
        return question.languages
    return (question.language_for(lang),)


def _fields(question: Question, languages: Sequence[str], topic_titles: Mapping[str, Text]) -> dict[str, str]:
    """Every field of the question's note, as HTML."""
    from mhaquiz.quiz.marking import instantiate

    if question.type == "numeric":
        asked = instantiate(question, numeric_rng(question.id))
        prompt, explanation = asked.prompt, asked.explanation
    else:
        prompt, explanation = question.prompt, question.explanation
    title = topic_titles.get(question.topic)
    fields = {
        "Prompt": _block(prompt, languages),
        "Explanation": _block(explanation, languages) if explanation is not None else "",
        "Source": _escape(question.source) if question.source else "",
        "Topic": _inline(title, languages) if title is not None else _escape(question.topic),
        "Difficulty": _inline(Text(**{lang: t(f"difficulty_{question.difficulty}", lang) for lang in languages}), languages),
        "Id": _escape(question.id),
        "Lang": "both" if len(languages) == 2 else languages[0],
    }
    if question.type == "open":
        fields["Answer"] = _block(question.answer_text, languages)
        fields["KeyPoints"] = '<ul class="key-points">' + "".join(
            f"<li>{_block(point, languages)}</li>" for point in question.key_points) + "</ul>"
    elif question.type == "mcq":
        fields["Choices"] = "".join(_choice(key, text, languages) for key, text in question.choices.items())
        correct = sorted(question.correct_choices)
        fields["Answer"] = f'<div class="letters">{_escape(", ".join(correct))}</div>' + "".join(
            _choice(key, question.choices[key], languages) for key in correct)
    else:
        numeric = question.numeric
        value = format_number(asked.expected)
        fields["Answer"] = _block(Text(**{
            lang: f"{value} {numeric.unit(lang)}" if numeric.unit is not None else value for lang in languages
        }), languages)
        if numeric.tolerance:
            percent = f"{numeric.tolerance * 100:g}"
            fields["Tolerance"] = _block(TOLERANCE.map(lambda text: text.format(percent=percent)), languages)
        else:
            fields["Tolerance"] = _block(EXACT, languages)
    return fields


def _escape(text: str) -> str:
    """Text as HTML: `<`, `>` and `&` escaped, line breaks kept as <br>."""
    return html.escape(text.strip("\n"), quote=False).replace("\r\n", "\n").replace("\n", "<br>")


def _plain(field_html: str) -> str:
    """A field as the plain text Anki sorts and searches by (its first language only)."""
    first = field_html.split("</div>", 1)[0]
    return html.unescape(re.sub(r"<[^>]+>", " ", first.replace("<br>", " "))).strip()


def _texts(text: Text, languages: Sequence[str]) -> list[tuple[str, str]]:
    """(language, text) for each of `languages`, a text the same in both languages given once."""
    shown: list[tuple[str, str]] = []
    for lang in languages:
        value = text(lang)
        if value and all(value != other for _, other in shown):
            shown.append((lang if lang in text.languages else ("en" if lang == "zh" else "zh"), value))
    return shown


def _block(text: Text, languages: Sequence[str]) -> str:
    """One <div lang=...> per language, zh first."""
    return "".join(f'<div class="text" lang="{HTML_LANG[lang]}">{_escape(value)}</div>'
                   for lang, value in _texts(text, languages))


def _inline(text: Text, languages: Sequence[str]) -> str:
    """The languages side by side on one line: 注意力掩码 · Masking."""
    return '<span class="sep"> · </span>'.join(f'<span lang="{HTML_LANG[lang]}">{_escape(value)}</span>'
                                               for lang, value in _texts(text, languages))


def _choice(key: str, text: Text, languages: Sequence[str]) -> str:
    return (f'<div class="choice"><span class="letter">{_escape(key)})</span>'
            f'<div class="choice-text">{_block(text, languages)}</div></div>')


# --- note types ----------------------------------------------------------------------------------


def _label(zh: str, en: str) -> str:
    return (f'<div class="label"><span lang="{HTML_LANG["zh"]}">{zh}</span>'
            f'<span class="label-sep"> · </span><span lang="{HTML_LANG["en"]}">{en}</span></div>')


_META = '<div class="meta">{{Topic}}<span class="sep"> · </span>{{Difficulty}}</div>'
_FRONT_EXTRA = {
    "open": "",
    "mcq": '<div class="choices">{{Choices}}</div>',
    "numeric": '<div class="tolerance">{{Tolerance}}</div>',
}
_ANSWER = {
    "open": ('<div class="section answer">' + _label("参考答案", "Reference answer") + "{{Answer}}</div>"
             + '{{#KeyPoints}}<div class="section">' + _label("要点", "Key points") + "{{KeyPoints}}</div>{{/KeyPoints}}"),
    "mcq": '<div class="section answer">' + _label("答案", "Answer") + "{{Answer}}</div>",
    "numeric": '<div class="section answer">' + _label("答案", "Answer") + "{{Answer}}</div>",
}
_BACK_COMMON = (
    '{{#Explanation}}<div class="section">' + _label("解析", "Explanation") + "{{Explanation}}</div>{{/Explanation}}"
    + '{{#Source}}<div class="section source">' + _label("出处", "Source") + "{{Source}}</div>{{/Source}}"
    + '<div class="id">mhaquiz · {{Id}}</div>'
)


def _front(qtype: str) -> str:
    return (f'<div class="mhaquiz lang-{{{{Lang}}}}">{_META}'
            f'<div class="prompt">{{{{Prompt}}}}</div>{_FRONT_EXTRA[qtype]}</div>')


def _back(qtype: str) -> str:
    return f'{{{{FrontSide}}}}\n\n<hr id=answer>\n\n<div class="mhaquiz lang-{{{{Lang}}}}">{_ANSWER[qtype]}{_BACK_COMMON}</div>'


CSS = """\
.card {
  font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", "Helvetica Neue", Arial,
    "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC", sans-serif;
  font-size: 19px; line-height: 1.65; color: #1f2328; background: #fdfdfc; text-align: left;
}
.mhaquiz { max-width: 42em; margin: 0 auto; overflow-wrap: break-word; }
:lang(zh) {
  font-family: "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", "Noto Sans SC",
    "Source Han Sans SC", "WenQuanYi Micro Hei", sans-serif;
  line-height: 1.8;
}
.meta { font-size: 0.75em; color: #6e7781; margin-bottom: 0.8em; }
.prompt { font-size: 1.05em; font-weight: 500; }
.text + .text { margin-top: 0.35em; }
.lang-both .text:lang(en) { color: #57606a; }
.choices { margin-top: 0.9em; }
.choice { display: flex; gap: 0.5em; margin: 0.35em 0; }
.letter { font-weight: 600; min-width: 1.6em; }
.tolerance { margin-top: 0.8em; font-size: 0.8em; color: #6e7781; }
hr#answer { border: none; border-top: 1px solid #d0d7de; margin: 1.2em 0; }
.section { margin: 0.9em 0; }
.answer { padding: 0.5em 0.8em; background: #eef6ee; border-left: 3px solid #2da44e; border-radius: 4px; }
.letters { font-weight: 600; }
.label { font-size: 0.72em; font-weight: 600; color: #6e7781; text-transform: uppercase; letter-spacing: 0.03em; }
.lang-zh .label :lang(en), .lang-zh .label-sep, .lang-en .label :lang(zh), .lang-en .label-sep { display: none; }
.key-points { margin: 0.2em 0; padding-left: 1.3em; }
.key-points li { margin: 0.3em 0; }
.source { font-size: 0.8em; color: #57606a; }
.id { margin-top: 1.2em; font-size: 0.7em; color: #8c959f; }
.nightMode.card, .night_mode.card, .nightMode .card { color: #e6edf3; background: #22272e; }
.nightMode .meta, .nightMode .label, .nightMode .tolerance, .nightMode .source, .nightMode .id,
.nightMode .lang-both .text:lang(en) { color: #9da7b3; }
.nightMode .answer { background: #1f3326; border-left-color: #3fb950; }
"""

_DECK_DESCRIPTION = (
    "ML interview questions exported by mhaquiz. Import a newer export to update these notes in place. "
    "/ mhaquiz 导出的 ML 面试题；导入新的导出文件会原地更新这些笔记。"
)


def _model(genanki, qtype: str):
    return genanki.Model(
        MODEL_IDS[qtype],
        MODEL_NAMES[qtype],
        fields=[{"name": name} for name in MODEL_FIELDS[qtype]],
        templates=[{"name": "Card", "qfmt": _front(qtype), "afmt": _back(qtype)}],
        css=CSS,
    )


# --- writing -------------------------------------------------------------------------------------


def _write(package, path: Path) -> None:
    """The package at `path`, written to a temporary file beside it and renamed into place, so a failed write
    leaves neither a half-written deck nor a stray file. (genanki's own write_to_file leaves its temporary
    database behind in the system temporary folder.)"""
    timestamp = time.time()  # Anki updates an existing note only when the imported one is newer
    temporary = None
    try:
        with tempfile.TemporaryDirectory(prefix="mhaquiz-anki-") as folder:
            database = os.path.join(folder, "collection.anki2")
            connection = sqlite3.connect(database)
            try:
                package.write_to_db(connection.cursor(), timestamp, itertools.count(int(timestamp * 1000)))
                connection.commit()
            finally:
                connection.close()
            name = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
            with open(name, "xb") as file:  # "x": never truncates a file that is not ours
                temporary = name
                with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as archive:
                    archive.write(database, "collection.anki2")
                    archive.writestr("media", "{}")
            os.replace(temporary, path)
            temporary = None
    except OSError as error:
        raise MhaquizError("error.export_path", path=str(path), reason=error.strerror or str(error)) from error
    finally:
        if temporary is not None:
            try:
                os.unlink(temporary)
            except OSError:
                pass
