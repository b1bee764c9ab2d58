"""Anki export: every test reads the written .apkg back (a zip holding an SQLite collection)."""

import errno
import html
import json
import os
import random
import sqlite3
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import genanki
import pytest

from mhaquiz import anki
from mhaquiz.anki import DECK_ID, MODEL_FIELDS, MODEL_IDS, export_deck
from mhaquiz.errors import MhaquizError
from mhaquiz.quiz.bank import format_number, load_bank


TYPES = ("open", "mcq", "numeric")

# The minimal own bank of questions/README.md, "Your own bank", as it stands.
README_OWN_BANK = """\
topic: my-cards
questions:
  - id: kv-cache-what
    type: open
    prompt: KV cache 里缓存的是什么？为什么不缓存 Q？
    answer: 每一层、每个头已经算过的 K 和 V；Q 只在当前步用一次，之后不再需要。
    key_points:
      - 缓存各层的 K 和 V
      - Q 只用于当前 token
  - id: scale-factor
    type: mcq
    prompt: {en: "Scaled dot-product attention divides the scores by ..."}
    choices:
      a: {en: d_k}
      b: {en: sqrt(d_k)}
    answer: [b]
"""

BILINGUAL_BANK = """\
topic: cards
title: {zh: 卡片, en: Cards}
questions:
  - id: why-mask
    difficulty: easy
    type: open
    prompt: {zh: "为什么需要因果 mask？", en: "Why is a causal mask needed?"}
    answer: {zh: "防止看到未来的 token。", en: "It stops a position seeing future tokens."}
    key_points:
      - {zh: "屏蔽 j > i", en: "Masks j > i"}
      - {zh: "保持自回归", en: "Keeps the model auto-regressive"}
    explanation: {zh: "解码时未来还不存在。", en: "At decoding time the future does not exist yet."}
    source: "Vaswani et al. 2017, §3.2.3"
  - id: softmax-axis
    difficulty: hard
    type: mcq
    prompt: {zh: "softmax 沿哪一维？", en: "Along which axis is the softmax taken?"}
    choices:
      a: {zh: "query 维", en: "The query axis"}
      b: {zh: "key 维", en: "The key axis"}
      c: {zh: "batch 维", en: "The batch axis"}
    answer: [b]
    explanation: {zh: "每个 query 的权重和为 1。", en: "Each query's weights sum to 1."}
    source: "Vaswani et al. 2017, Eq. 1"
  - id: mha-params
    type: numeric
    prompt: {zh: "d_model = {d} 的多头注意力层有多少参数？", en: "How many parameters does an MHA layer with d_model = {d} have?"}
    answer:
      formula: mha_param_count
      params: {d: [256, 512, 768, 1024]}
      tolerance: 0
      unit: {zh: "个参数", en: "parameters"}
    explanation: {zh: "4·d² + 4·d = {answer}", en: "4·d² + 4·d = {answer}"}
"""


def read_apkg(path: Path, tmp_path: Path) -> dict:
    """The notes (by Id field), note types and decks of the package at `path`."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        collection = next(name for name in ("collection.anki21", "collection.anki2") if name in names)
        database = tmp_path / f"read-{path.stem}-{len(list(tmp_path.iterdir()))}.db"
        database.write_bytes(archive.read(collection))
    connection = sqlite3.connect(database)
    try:
        models_json, decks_json = connection.execute("SELECT models, decks FROM col").fetchone()
        models = {int(mid): model for mid, model in json.loads(models_json).items()}
        field_names = {mid: [field["name"] for field in model["flds"]] for mid, model in models.items()}
        notes = {}
        for guid, mid, flds, tags in connection.execute("SELECT guid, mid, flds, tags FROM notes"):
            fields = dict(zip(field_names[mid], flds.split("\x1f"), strict=True))
            notes[fields["Id"]] = {"guid": guid, "mid": mid, "fields": fields, "tags": tags.split()}
        cards = connection.execute("SELECT nid, did FROM cards").fetchall()
        note_count = connection.execute("SELECT count(*) FROM notes").fetchone()[0]
    finally:
        connection.close()
    return {"notes": notes, "note_count": note_count, "models": models,
            "decks": {int(did): deck for did, deck in json.loads(decks_json).items()}, "cards": cards}


def write_bank(tmp_path: Path, text: str, name: str = "bank.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def export_bank(tmp_path: Path, bank_text: str, name: str, **options) -> dict:
    bank = load_bank(write_bank(tmp_path, bank_text, f"{name}.yaml"))
    out = tmp_path / f"{name}.apkg"
    export_deck(bank.questions, out, topic_titles=bank.topic_titles, **options)
    return read_apkg(out, tmp_path)


# --- the built-in bank ---------------------------------------------------------------------------


def test_builtin_bank_exports_every_question_once_with_front_and_back(tmp_path):
    bank = load_bank()
    out = tmp_path / "mhaquiz.apkg"
    summary = export_deck(bank.questions, out, topic_titles=bank.topic_titles)
    package = read_apkg(out, tmp_path)
    expected_per_type = Counter(question.type for question in bank.questions)

    assert summary.path == out
    assert summary.notes == len(bank.questions)
    assert summary.per_type == {qtype: expected_per_type[qtype] for qtype in TYPES}
    assert summary.language == "both"
    assert summary.other_language == []
    assert package["note_count"] == len(bank.questions)
    assert set(package["notes"]) == {question.id for question in bank.questions}
    assert len(package["cards"]) == len(bank.questions)  # one card per note
    assert {did for _, did in package["cards"]} == {DECK_ID}
    assert Counter(note["mid"] for note in package["notes"].values()) == {
        MODEL_IDS[qtype]: count for qtype, count in expected_per_type.items()}
    for question in bank.questions:
        note = package["notes"][question.id]
        assert note["guid"] == genanki.guid_for("mhaquiz", question.id)
        assert note["mid"] == MODEL_IDS[question.type]
        assert note["tags"] == ["mhaquiz", question.topic, question.difficulty]
        assert note["fields"]["Prompt"].strip(), question.id  # the front
        assert note["fields"]["Answer"].strip(), question.id  # the back
        assert note["fields"]["Lang"] == "both"
        if question.type != "numeric":  # numeric prompts are filled in: see the numeric tests
            assert note["fields"]["Prompt"] == "".join(
                f'<div class="text" lang="{tag}">{html.escape(question.prompt(lang).strip(), quote=False)}</div>'.replace("\n", "<br>")
                for lang, tag in (("zh", "zh-Hans"), ("en", "en")))


def test_note_types_have_the_documented_fields_and_a_front_back_template(tmp_path):
    bank = load_bank()
    out = tmp_path / "deck.apkg"
    export_deck(bank.questions, out)
    models = read_apkg(out, tmp_path)["models"]
    for qtype in TYPES:
        model = models[MODEL_IDS[qtype]]
        assert [field["name"] for field in model["flds"]] == list(MODEL_FIELDS[qtype])
        (template,) = model["tmpls"]
        assert "{{Prompt}}" in template["qfmt"]
        assert template["afmt"].startswith("{{FrontSide}}\n\n<hr id=answer>")
        assert "{{Answer}}" in template["afmt"] and "{{Answer}}" not in template["qfmt"]
        assert "{{Explanation}}" in template["afmt"] and "{{Source}}" in template["afmt"]
    assert "{{Choices}}" in models[MODEL_IDS["mcq"]]["tmpls"][0]["qfmt"]
    assert "{{KeyPoints}}" in models[MODEL_IDS["open"]]["tmpls"][0]["afmt"]
    assert "{{Tolerance}}" in models[MODEL_IDS["numeric"]]["tmpls"][0]["qfmt"]


# --- identities ----------------------------------------------------------------------------------


def test_changed_prompt_keeps_the_guid_and_changes_the_field(tmp_path):
    first = export_bank(tmp_path, BILINGUAL_BANK, "first", lang="en")
    edited = BILINGUAL_BANK.replace("Why is a causal mask needed?", "What is a causal mask for?")
    second = export_bank(tmp_path, edited, "second", lang="en")

    before, after = first["notes"]["why-mask"], second["notes"]["why-mask"]
    assert after["guid"] == before["guid"] == genanki.guid_for("mhaquiz", "why-mask")
    assert before["fields"]["Prompt"] == '<div class="text" lang="en">Why is a causal mask needed?</div>'
    assert after["fields"]["Prompt"] == '<div class="text" lang="en">What is a causal mask for?</div>'
    assert after["fields"]["Answer"] == before["fields"]["Answer"]
    assert {qid: note["guid"] for qid, note in second["notes"].items()} == {
        qid: note["guid"] for qid, note in first["notes"].items()}


def test_a_different_id_gives_a_different_guid(tmp_path):
    first = export_bank(tmp_path, BILINGUAL_BANK, "first")
    renamed = export_bank(tmp_path, BILINGUAL_BANK.replace("id: why-mask", "id: why-causal-mask"), "renamed")

    assert "why-mask" not in renamed["notes"]
    new_guid = renamed["notes"]["why-causal-mask"]["guid"]
    assert new_guid == genanki.guid_for("mhaquiz", "why-causal-mask")
    assert new_guid != first["notes"]["why-mask"]["guid"]
    guids = [note["guid"] for note in first["notes"].values()]
    assert len(set(guids)) == 3


def test_model_and_deck_ids_are_constants(tmp_path):
    first = export_bank(tmp_path, BILINGUAL_BANK, "first", lang="zh", deck_name="ML::attention")
    second = export_bank(tmp_path, BILINGUAL_BANK, "second", lang="en")
    expected_models = {MODEL_IDS["open"], MODEL_IDS["mcq"], MODEL_IDS["numeric"]}

    assert set(first["models"]) == set(second["models"]) == expected_models
    assert len(expected_models) == 3
    for mid in expected_models:  # the language changes field content, never the note type
        assert first["models"][mid]["tmpls"] == second["models"][mid]["tmpls"]
        assert first["models"][mid]["css"] == second["models"][mid]["css"]
    assert first["decks"][DECK_ID]["name"] == "ML::attention"
    assert second["decks"][DECK_ID]["name"] == "mhaquiz"
    # Derived from names, not drawn at import time: a fresh interpreter computes the same ids.
    fresh = subprocess.run(
        [sys.executable, "-c", "from mhaquiz import anki; print(anki.DECK_ID, *sorted(anki.MODEL_IDS.values()))"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    assert [int(value) for value in fresh] == [DECK_ID, *sorted(expected_models)]
    assert DECK_ID == anki.stable_id("mhaquiz-deck-v1")
    assert MODEL_IDS["open"] == anki.stable_id("mhaquiz-open-v1")


# --- numeric questions ---------------------------------------------------------------------------


def test_numeric_questions_are_one_fixed_instance_with_the_answer_on_the_back(tmp_path):
    first = export_bank(tmp_path, BILINGUAL_BANK, "first", lang="en")
    second = export_bank(tmp_path, BILINGUAL_BANK, "second", lang="en")
    d = random.Random("anki:mha-params").choice((256, 512, 768, 1024))
    answer = format_number(4 * d * d + 4 * d)

    note = first["notes"]["mha-params"]["fields"]
    assert note["Prompt"] == f'<div class="text" lang="en">How many parameters does an MHA layer with d_model = {d} have?</div>'
    assert note["Answer"] == f'<div class="text" lang="en">{answer} parameters</div>'
    assert note["Explanation"] == f'<div class="text" lang="en">4·d² + 4·d = {answer}</div>'
    assert note["Tolerance"] == '<div class="text" lang="en">exact</div>'
    assert second["notes"]["mha-params"]["fields"] == note


def test_every_builtin_numeric_question_exports_the_same_numbers_twice(tmp_path):
    bank = load_bank()
    numeric = [question for question in bank.questions if question.type == "numeric"]
    assert numeric
    packages = []
    for name in ("one", "two"):
        out = tmp_path / f"{name}.apkg"
        export_deck(numeric, out, lang="zh")
        packages.append(read_apkg(out, tmp_path))
    for question in numeric:
        assert packages[0]["notes"][question.id]["fields"] == packages[1]["notes"][question.id]["fields"]
        assert "{" not in packages[0]["notes"][question.id]["fields"]["Prompt"]  # every placeholder filled


def test_numeric_tolerance_is_shown_as_a_percentage(tmp_path):
    bank = BILINGUAL_BANK.replace("tolerance: 0\n", "tolerance: 0.01\n")
    fields = export_bank(tmp_path, bank, "tolerant", lang="both")["notes"]["mha-params"]["fields"]
    assert fields["Tolerance"] == ('<div class="text" lang="zh-Hans">允许相对误差 ±1%</div>'
                                   '<div class="text" lang="en">relative tolerance ±1%</div>')


# --- languages -----------------------------------------------------------------------------------


def test_lang_zh_exports_chinese_only(tmp_path):
    notes = export_bank(tmp_path, BILINGUAL_BANK, "zh", lang="zh")["notes"]
    fields = notes["why-mask"]["fields"]
    assert fields["Prompt"] == '<div class="text" lang="zh-Hans">为什么需要因果 mask？</div>'
    assert fields["Answer"] == '<div class="text" lang="zh-Hans">防止看到未来的 token。</div>'
    assert fields["KeyPoints"] == ('<ul class="key-points"><li><div class="text" lang="zh-Hans">屏蔽 j &gt; i</div></li>'
                                   '<li><div class="text" lang="zh-Hans">保持自回归</div></li></ul>')
    assert fields["Topic"] == '<span lang="zh-Hans">卡片</span>'
    assert fields["Difficulty"] == '<span lang="zh-Hans">易</span>'
    assert fields["Lang"] == "zh"
    assert "Why" not in fields["Prompt"] and "future" not in fields["Explanation"]


def test_lang_en_exports_english_only(tmp_path):
    notes = export_bank(tmp_path, BILINGUAL_BANK, "en", lang="en")["notes"]
    fields = notes["softmax-axis"]["fields"]
    assert fields["Prompt"] == '<div class="text" lang="en">Along which axis is the softmax taken?</div>'
    assert fields["Answer"] == ('<div class="letters">b</div><div class="choice"><span class="letter">b)</span>'
                                '<div class="choice-text"><div class="text" lang="en">The key axis</div></div></div>')
    assert fields["Choices"].count('class="choice"') == 3
    assert "The query axis" in fields["Choices"] and "The batch axis" in fields["Choices"]
    assert "The query axis" not in fields["Answer"]
    assert fields["Explanation"] == '<div class="text" lang="en">Each query\'s weights sum to 1.</div>'
    assert fields["Source"] == "Vaswani et al. 2017, Eq. 1"
    assert fields["Topic"] == '<span lang="en">Cards</span>'
    assert fields["Difficulty"] == '<span lang="en">hard</span>'
    assert fields["Lang"] == "en"
    assert all("维" not in value for value in fields.values())


def test_lang_both_shows_chinese_then_english(tmp_path):
    notes = export_bank(tmp_path, BILINGUAL_BANK, "both", lang="both")["notes"]
    fields = notes["why-mask"]["fields"]
    assert fields["Prompt"] == ('<div class="text" lang="zh-Hans">为什么需要因果 mask？</div>'
                                '<div class="text" lang="en">Why is a causal mask needed?</div>')
    assert fields["KeyPoints"] == (
        '<ul class="key-points">'
        '<li><div class="text" lang="zh-Hans">屏蔽 j &gt; i</div><div class="text" lang="en">Masks j &gt; i</div></li>'
        '<li><div class="text" lang="zh-Hans">保持自回归</div><div class="text" lang="en">Keeps the model auto-regressive</div></li>'
        '</ul>')
    assert fields["Topic"] == '<span lang="zh-Hans">卡片</span><span class="sep"> · </span><span lang="en">Cards</span>'
    assert fields["Lang"] == "both"
    numeric = notes["mha-params"]["fields"]
    d = random.Random("anki:mha-params").choice((256, 512, 768, 1024))
    answer = format_number(4 * d * d + 4 * d)
    assert numeric["Answer"] == (f'<div class="text" lang="zh-Hans">{answer} 个参数</div>'
                                 f'<div class="text" lang="en">{answer} parameters</div>')


@pytest.mark.parametrize("lang", ["zh", "en", "both"])
def test_a_one_language_own_bank_exports_in_its_own_language(tmp_path, lang):
    out = tmp_path / "own.apkg"
    bank = load_bank(write_bank(tmp_path, README_OWN_BANK))
    summary = export_deck(bank.questions, out, lang=lang, topic_titles=bank.topic_titles)
    notes = read_apkg(out, tmp_path)["notes"]

    kv = notes["kv-cache-what"]["fields"]
    assert kv["Prompt"] == '<div class="text" lang="zh-Hans">KV cache 里缓存的是什么？为什么不缓存 Q？</div>'
    assert kv["Answer"] == '<div class="text" lang="zh-Hans">每一层、每个头已经算过的 K 和 V；Q 只在当前步用一次，之后不再需要。</div>'
    assert kv["Explanation"] == "" and kv["Source"] == ""
    assert kv["Topic"] == "my-cards"  # the file has no title
    assert kv["Difficulty"] == '<span lang="zh-Hans">中</span>'
    assert kv["Lang"] == "zh"
    scale = notes["scale-factor"]["fields"]
    assert scale["Prompt"] == '<div class="text" lang="en">Scaled dot-product attention divides the scores by ...</div>'
    assert scale["Answer"] == ('<div class="letters">b</div><div class="choice"><span class="letter">b)</span>'
                               '<div class="choice-text"><div class="text" lang="en">sqrt(d_k)</div></div></div>')
    assert scale["Difficulty"] == '<span lang="en">medium</span>'
    assert scale["Lang"] == "en"
    assert summary.language == lang
    assert summary.other_language == {"zh": ["scale-factor"], "en": ["kv-cache-what"],
                                      "both": ["kv-cache-what", "scale-factor"]}[lang]


# --- HTML ----------------------------------------------------------------------------------------


def test_every_field_is_html_escaped_and_keeps_line_breaks(tmp_path):
    bank = """\
topic: html
questions:
  - id: tricky
    type: mcq
    prompt: {en: "Is <b>x[i]</b> & y a tag?"}
    choices:
      a: {en: "<script>alert(1)</script>"}
      b: {en: "a < b && c > d"}
    answer: [a]
    explanation:
      en: |
        first line
        second & last line
    source: "R&D notes <p. 3>"
"""
    fields = export_bank(tmp_path, bank, "html", lang="en")["notes"]["tricky"]["fields"]
    assert fields["Prompt"] == '<div class="text" lang="en">Is &lt;b&gt;x[i]&lt;/b&gt; &amp; y a tag?</div>'
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in fields["Choices"]
    assert "a &lt; b &amp;&amp; c &gt; d" in fields["Choices"]
    assert "<script>" not in fields["Choices"] and "<script>" not in fields["Answer"]
    assert fields["Explanation"] == '<div class="text" lang="en">first line<br>second &amp; last line</div>'
    assert fields["Source"] == "R&amp;D notes &lt;p. 3&gt;"


# --- where it is written -------------------------------------------------------------------------


def test_a_directory_as_the_path_is_a_user_error(tmp_path):
    bank = load_bank(write_bank(tmp_path, BILINGUAL_BANK))
    with pytest.raises(MhaquizError) as caught:
        export_deck(bank.questions, tmp_path)
    assert caught.value.key == "error.export_path"
    assert caught.value.params == {"path": str(tmp_path), "reason": os.strerror(errno.EISDIR)}


def test_a_missing_folder_is_a_user_error_and_leaves_nothing(tmp_path):
    bank = load_bank(write_bank(tmp_path, BILINGUAL_BANK))
    target = tmp_path / "no-such-folder" / "deck.apkg"
    with pytest.raises(MhaquizError) as caught:
        export_deck(bank.questions, target)
    assert caught.value.key == "error.export_path"
    assert caught.value.params == {"path": str(target), "reason": os.strerror(errno.ENOENT)}
    assert not target.parent.exists()


def test_a_file_in_place_of_the_folder_is_a_user_error(tmp_path):
    bank = load_bank(write_bank(tmp_path, BILINGUAL_BANK))
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("keep me", encoding="utf-8")
    with pytest.raises(MhaquizError) as caught:
        export_deck(bank.questions, not_a_folder / "deck.apkg")
    assert caught.value.key == "error.export_path"
    assert caught.value.params == {"path": str(not_a_folder / "deck.apkg"), "reason": os.strerror(errno.ENOTDIR)}
    assert not_a_folder.read_text(encoding="utf-8") == "keep me"


def test_a_refused_write_is_a_user_error_and_leaves_the_old_deck_and_no_stray_file(tmp_path, monkeypatch):
    bank = load_bank(write_bank(tmp_path, BILINGUAL_BANK))
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "deck.apkg").write_bytes(b"the deck from last week")

    def refuse(source, target):  # what a read-only folder does, even to root on a read-only mount
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(target))

    monkeypatch.setattr(anki.os, "replace", refuse)
    with pytest.raises(MhaquizError) as caught:
        export_deck(bank.questions, folder / "deck.apkg")
    assert caught.value.key == "error.export_path"
    assert caught.value.params == {"path": str(folder / "deck.apkg"), "reason": os.strerror(errno.EACCES)}
    assert [entry.name for entry in folder.iterdir()] == ["deck.apkg"]
    assert (folder / "deck.apkg").read_bytes() == b"the deck from last week"


def test_export_replaces_an_existing_deck_and_leaves_no_temporary_file(tmp_path):
    bank = load_bank(write_bank(tmp_path, BILINGUAL_BANK))
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "deck.apkg"
    target.write_bytes(b"old")
    export_deck(bank.questions, target, lang="en")
    export_deck(bank.questions[:1], target, lang="en")
    assert [path.name for path in folder.iterdir()] == ["deck.apkg"]
    assert set(read_apkg(target, tmp_path)["notes"]) == {"why-mask"}


def test_unknown_lang_is_refused(tmp_path):
    with pytest.raises(ValueError):
        export_deck([], tmp_path / "deck.apkg", lang="fr")
    assert not (tmp_path / "deck.apkg").exists()
