"""The tiled-softmax exercises: online_softmax and flash_attention_forward.

For each: the folder is complete, the reference passes its own checks through the real grader, every declared
mutant is a one-edit buggy submission failing with its exact verdict and its mistake named, the untouched stub
is reported as not implemented; the references agree with a plain-NumPy restatement written row by row over the
full score matrix (always) and with PyTorch (torch.softmax / torch.logsumexp, F.scaled_dot_product_attention)
where torch is installed; the block size never changes the answer and the running state never goes through NaN.
flash_attention_forward also bounds memory: measured here with tracemalloc, and a plain softmax(QK^T)V fails with
Verdict.MEMORY_LIMIT through the real grader.
"""

import ast
import io
import math
import tracemalloc

import numpy as np
import pytest

from mhaquiz.grader import exercises as registry
from mhaquiz.grader.exercises import get_exercise
from mhaquiz.grader.grade import grade_file
from mhaquiz.grader.verdict import Verdict
from tests.helpers import kernel_peak
from tests.helpers import reference_source, with_edits, write

EXERCISES = ("online_softmax", "flash_attention_forward")
ORDERS = {"online_softmax": 150, "flash_attention_forward": 155}

# --- one-edit buggy submissions ------------------------------------------------------------------------

_RESCALE = "return np.exp(m_old - safe_max(m_new))"
_SAFE_MAX = "return np.where(np.isneginf(m), 0.0, m)"
_SOFTMAX_LOOP = ("    for start in range(0, N, block_size):  # the last block may be shorter\n"
                 "        m, l = update(m, l, x[..., start:start + block_size])  # x block: (..., <= block_size)\n"
                 "    return normalise(x, m, l), m, l")


def _blockwise_p(line):
    """The online_softmax loop rewritten to build p block by block, each block's p given by `line`."""
    return ("    blocks = []\n"
            "    for start in range(0, N, block_size):\n"
            "        block = x[..., start:start + block_size]\n"
            "        m, l = update(m, l, block)\n"
            f"        blocks.append({line})\n"
            "    return np.concatenate(blocks, axis=-1), m, l")


_ACC = "acc_new = alpha[..., None] * acc + p @ v_block"
_FINISH = "return acc / l[..., None], m + np.log(l)"

BUGS = {
    "online_softmax": {
        "sum_not_rescaled": [(_RESCALE, "return np.ones_like(m_new)")],
        "rescale_sign_flipped": [(_RESCALE, "return np.where(np.isneginf(m_old), 0.0, np.exp(safe_max(m_new) - m_old))")],
        "block_max_only": [("m_new = np.maximum(m, x_block.max(axis=-1))", "m_new = x_block.max(axis=-1)")],
        "per_block_normalisation": [(_SOFTMAX_LOOP, _blockwise_p(
            "normalise(block, block.max(axis=-1), np.exp(block - block.max(axis=-1, keepdims=True)).sum(axis=-1))"))],
        "running_stats_for_p": [(_SOFTMAX_LOOP, _blockwise_p("normalise(block, m, l)"))],
        "neg_inf_block_nan": [(_SAFE_MAX, "return m")],
    },
    "flash_attention_forward": {
        "no_rescaling": [(_RESCALE, "return np.ones_like(m_new)")],
        "output_not_rescaled": [(_ACC, "acc_new = acc + p @ v_block")],
        "per_block_normalisation": [(_ACC, "tile = np.exp(s - s.max(axis=-1, keepdims=True))\n"
                                           "    acc_new = alpha[..., None] * acc + (tile / tile.sum(axis=-1, keepdims=True)) @ v_block"),
                                    (_FINISH, "return acc, m + np.log(l)")],
        "masked_block_nan": [(_SAFE_MAX, "return m")],
        "lse_without_max": [(_FINISH, "return acc / l[..., None], np.log(l)")],
        "no_scale": [("return 1.0 / np.sqrt(d)", "return 1.0")],
        "tail_block_dropped": [("for start in range(0, Tk, block_size)]", "for start in range(0, Tk - block_size + 1, block_size)]")],
        "mask_fill_too_small": [("s = np.where(mask_block, s, -np.inf)", "s = np.where(mask_block, s, -1e4)")],
        "mask_after_exp": [  # the running max over masked scores too, the mask applied to exp(s - m)
            ("def update(m, l, acc, s, v_block):", "def update(m, l, acc, s, v_block, keep=None):"),
            ("    p = np.exp(s - safe_max(m_new)[..., None])",
             "    p = np.exp(s - safe_max(m_new)[..., None]) * (1.0 if keep is None else keep)"),
            ("s = score_block(q, k[..., start:stop, :], None if mask is None else mask[..., start:stop])",
             "s = score_block(q, k[..., start:stop, :], None)"),
            ("m, l, acc = update(m, l, acc, s, v[..., start:stop, :])",
             "m, l, acc = update(m, l, acc, s, v[..., start:stop, :], None if mask is None else mask[..., start:stop])")],
    },
}
BUG_CASES = [(exercise, mistake) for exercise in EXERCISES for mistake in BUGS[exercise]]


def grade_source(tmp_path, exercise, source, name=None):
    return grade_file(write(tmp_path, name or f"{exercise}.py", source), exercise_ids=[exercise])


# --- the exercise folders --------------------------------------------------------------------------------

@pytest.mark.parametrize("exercise", EXERCISES)
def test_exercise_folder_is_complete(exercise):
    ex = registry.get_exercise(exercise)
    meta = ex.meta
    assert meta["order"] == ORDERS[exercise]
    assert meta["loops_expected"] is True  # the loop over blocks is the exercise
    assert not meta.get("building_block")
    assert meta["title"]["zh"] and meta["title"]["en"]
    assert 3 <= len(meta["hints"]) <= 6
    assert all(hint["zh"].strip() and hint["en"].strip() for hint in meta["hints"])
    for lang in ("zh", "en"):
        assert ex.prompt(lang).startswith("# ")
    assert ex.functions == (exercise,)
    assert callable(getattr(ex.reference(), exercise))
    checks = ex.checks()
    assert 5 <= len(checks.make_cases(0)) <= 9


@pytest.mark.parametrize("exercise", EXERCISES)
def test_reference_passes_every_case(tmp_path, exercise):
    report = grade_source(tmp_path, exercise, reference_source(exercise), "ref.py")
    assert report.verdict == Verdict.PASSED, report.detail
    assert [e.id for e in report.exercises] == [exercise]
    result = report.exercises[0]
    assert all(case.passed for case in result.cases)
    assert result.efficiency.loops == []  # loops_expected: no note about the loop over blocks


def test_flash_reference_passes_the_memory_bound_in_the_real_worker(tmp_path):
    report = grade_source(tmp_path, "flash_attention_forward", reference_source("flash_attention_forward"), "ref.py")
    memory = report.exercises[0].memory
    assert memory["passed"] is True
    assert memory["peak"] <= memory["limit"] / 2  # with margin, measured in the sandboxed worker


@pytest.mark.parametrize("exercise", EXERCISES)
def test_untouched_stub_fails_cleanly(exercise):
    report = grade_file(registry.get_exercise(exercise).stub_path, exercise_ids=[exercise])
    assert report.verdict == Verdict.NOT_IMPLEMENTED, report.detail
    result = report.exercises[0]
    assert result.cases and all(case.error["type"] == "NotImplementedError" for case in result.cases)
    assert result.diagnosis == []
    assert result.memory is None  # nothing passed, so nothing was measured


@pytest.mark.parametrize("exercise", EXERCISES)
def test_references_are_detected_as_themselves(exercise):
    tree = ast.parse(reference_source(exercise))
    assert [e.id for e in registry.detect(registry.defined_names(tree))] == [exercise]


# --- buggy submissions -----------------------------------------------------------------------------------

@pytest.mark.parametrize("exercise", EXERCISES)
def test_every_declared_mutant_has_a_buggy_submission(exercise):
    assert {mutant.id for mutant in get_exercise(exercise).checks().MUTANTS} == set(BUGS[exercise])


@pytest.mark.parametrize("exercise, mistake", BUG_CASES)
def test_bug_is_named(tmp_path, exercise, mistake):
    report = grade_source(tmp_path, exercise, with_edits(reference_source(exercise), *BUGS[exercise][mistake]))
    assert report.verdict == Verdict.WRONG_ANSWER, report.detail
    assert report.exercises[0].diagnosis[0].mistake == mistake


def test_a_nan_from_a_masked_block_is_reported_as_not_finite(tmp_path):
    source = with_edits(reference_source("flash_attention_forward"), *BUGS["flash_attention_forward"]["masked_block_nan"])
    report = grade_source(tmp_path, "flash_attention_forward", source)
    problems = {case.name: {check.name: check.problem for check in case.outputs} for case in report.exercises[0].cases}
    assert problems["sliding window"] == {"out": "not_finite", "lse": "not_finite"}
    assert problems["left padding"] == {"out": "not_finite", "lse": "not_finite"}
    assert problems["ragged last block"] == {"out": None, "lse": None}  # no mask: nothing to go wrong


def test_flash_heat_map_names_queries_and_features(tmp_path):
    source = with_edits(reference_source("flash_attention_forward"), *BUGS["flash_attention_forward"]["output_not_rescaled"])
    heatmap = grade_source(tmp_path, "flash_attention_forward", source).exercises[0].heatmap
    assert (heatmap.case, heatmap.output) == ("ragged last block", "out")
    assert (heatmap.rows, heatmap.cols) == ("axis.query", "axis.feature")
    assert [axis for axis, _ in heatmap.where] == ["axis.batch"]


def test_flash_returning_only_the_output_is_reported_missing(tmp_path):
    source = with_edits(reference_source("flash_attention_forward"), ("return finish(m, l, acc)", "return finish(m, l, acc)[0]"))
    report = grade_source(tmp_path, "flash_attention_forward", source)
    assert report.verdict == Verdict.WRONG_ANSWER
    assert report.exercises[0].diagnosis[0].mistake == "missing_outputs"


# --- independent oracles: plain NumPy, row by row over the full matrix -------------------------------------

def numpy_softmax_rows(x):
    """(p, m, l) for x (..., N), one row at a time with Python's math: the textbook two-pass safe softmax."""
    rows = x.reshape(-1, x.shape[-1])
    p, m, l = np.zeros_like(rows), np.zeros(len(rows)), np.zeros(len(rows))
    for r, row in enumerate(rows):
        m[r] = max(row)
        e = [math.exp(value - m[r]) for value in row]  # math.exp(-inf) = 0.0
        l[r] = math.fsum(e)
        p[r] = [value / l[r] for value in e]
    return p.reshape(x.shape), m.reshape(x.shape[:-1]), l.reshape(x.shape[:-1])


def numpy_attention_rows(q, k, v, mask):
    """(out, lse) by the definition, one query at a time over every key it may attend to (no blocks)."""
    Tq, Tk = q.shape[-2], k.shape[-2]
    lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2])
    full_mask = np.ones(lead + (Tq, Tk), dtype=bool) if mask is None else np.broadcast_to(mask, lead + (Tq, Tk))
    out = np.zeros(lead + (Tq, v.shape[-1]))
    lse = np.zeros(lead + (Tq,))
    for index in np.ndindex(*lead, Tq):
        *batch, i = index
        batch = tuple(batch)
        keys = np.flatnonzero(full_mask[index])  # the keys this query may attend to
        scores = [float(np.dot(q[batch][i], k[batch][j])) / math.sqrt(q.shape[-1]) for j in keys]
        top = max(scores)
        weights = [math.exp(s - top) for s in scores]
        total = math.fsum(weights)
        lse[index] = top + math.log(total)
        out[index] = sum(w / total * v[batch][j] for w, j in zip(weights, keys))
    return out, lse


def _cases(exercise):
    return get_exercise(exercise).checks().make_cases(0)


def _close(got, expected, name):
    scale = max(1.0, float(np.abs(expected[np.isfinite(expected)]).max()))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * scale, err_msg=name)


@pytest.mark.parametrize("case", _cases("online_softmax"), ids=lambda case: case.name)
def test_online_softmax_matches_plain_numpy(case):
    p, m, l = get_exercise("online_softmax").reference().online_softmax(**case.args)
    p_expected, m_expected, l_expected = numpy_softmax_rows(case.args["x"])
    _close(p, p_expected, "p")
    np.testing.assert_array_equal(m, m_expected)  # a max is exact
    _close(l, l_expected, "l")


@pytest.mark.parametrize("case", _cases("flash_attention_forward"), ids=lambda case: case.name)
def test_flash_attention_matches_plain_numpy(case):
    a = case.args
    out, lse = get_exercise("flash_attention_forward").reference().flash_attention_forward(**a)
    out_expected, lse_expected = numpy_attention_rows(a["q"], a["k"], a["v"], a["mask"])
    _close(out, out_expected, "out")
    _close(lse, lse_expected, "lse")


@pytest.mark.parametrize("case", _cases("online_softmax"), ids=lambda case: case.name)
def test_online_softmax_matches_torch(case):
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(case.args["x"])
    p, m, l = get_exercise("online_softmax").reference().online_softmax(**case.args)
    _close(p, torch.softmax(x, dim=-1).numpy(), "p")
    np.testing.assert_array_equal(m, torch.amax(x, dim=-1).numpy())
    _close(l, torch.exp(torch.logsumexp(x, dim=-1) - torch.amax(x, dim=-1)).numpy(), "l")


@pytest.mark.parametrize("case", _cases("flash_attention_forward"), ids=lambda case: case.name)
def test_flash_attention_matches_torch(case):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    a = case.args
    q, k, v = (torch.from_numpy(a[name]) for name in ("q", "k", "v"))
    mask = None if a["mask"] is None else torch.from_numpy(np.ascontiguousarray(a["mask"]))
    out, lse = get_exercise("flash_attention_forward").reference().flash_attention_forward(**a)
    _close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask).numpy(), "out")
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    _close(lse, torch.logsumexp(scores, dim=-1).numpy(), "lse")


# --- properties: the block size never changes the answer; no NaN on the way ---------------------------------

def _block_sizes(n):
    return sorted({1, 2, 3, 5, n - 1 if n > 1 else 1, n, n + 4})


@pytest.mark.parametrize("case", _cases("online_softmax"), ids=lambda case: case.name)
def test_online_softmax_does_not_depend_on_the_block_size(case):
    online_softmax = get_exercise("online_softmax").reference().online_softmax
    x = case.args["x"]
    p_expected, m_expected, l_expected = numpy_softmax_rows(x)
    for block_size in _block_sizes(x.shape[-1]):
        with np.errstate(invalid="raise", divide="raise", over="raise", under="ignore"):  # no NaN, inf or 0/0 on the way
            p, m, l = online_softmax(x, block_size)
        _close(p, p_expected, f"p, block {block_size}")
        np.testing.assert_array_equal(m, m_expected)
        _close(l, l_expected, f"l, block {block_size}")
        np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=0, atol=1e-12)
        assert (p[np.isneginf(x)] == 0).all()


@pytest.mark.parametrize("case", _cases("flash_attention_forward"), ids=lambda case: case.name)
def test_flash_attention_does_not_depend_on_the_block_size(case):
    flash = get_exercise("flash_attention_forward").reference().flash_attention_forward
    a = case.args
    out_expected, lse_expected = numpy_attention_rows(a["q"], a["k"], a["v"], a["mask"])
    for block_size in _block_sizes(a["k"].shape[-2]):
        with np.errstate(invalid="raise", divide="raise", over="raise", under="ignore"):  # no exp(-inf - (-inf))
            out, lse = flash(a["q"], a["k"], a["v"], a["mask"], block_size)
        _close(out, out_expected, f"out, block {block_size}")
        _close(lse, lse_expected, f"lse, block {block_size}")


def test_the_masked_cases_really_have_fully_masked_leading_blocks():
    """The cases that guard the NaN policy: some query finds its FIRST key block entirely masked."""
    cases = {case.name: case for case in _cases("flash_attention_forward")}
    for name in ("sliding window", "left padding"):
        a = cases[name].args
        Tq, Tk, block = a["q"].shape[-2], a["k"].shape[-2], a["block_size"]
        mask = np.broadcast_to(a["mask"], a["q"].shape[:-2] + (Tq, Tk))
        assert (~mask[..., :block]).all(axis=-1).any(), name
        assert mask.any(axis=-1).all(), f"{name}: a query with every key masked is out of the policy"


def test_online_softmax_first_block_of_neg_inf_is_covered():
    x = {case.name: case for case in _cases("online_softmax")}["-inf entries"].args["x"]
    assert np.isneginf(x[..., :3]).all(axis=-1).any()  # a row whose whole first block (block_size 3) is -inf
    assert np.isfinite(x).any(axis=-1).all()  # and no row -inf everywhere


# --- memory -----------------------------------------------------------------------------------------------

def traced_peak(function, *args):
    """Peak bytes allocated during one call, as the worker measures them (tracemalloc sees NumPy's buffers)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        function(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _memory_setup():
    checks = get_exercise("flash_attention_forward").checks()
    case = checks.memory_case(0)
    Tq, Tk = case.args["q"].shape[-2], case.args["k"].shape[-2]
    return checks, case, Tq * Tk * 8  # bytes of one full (Tq, Tk) float64 score matrix


def test_the_reference_peaks_far_below_the_full_score_matrix():
    checks, case, full = _memory_setup()
    reference = get_exercise("flash_attention_forward").reference()
    peak = traced_peak(reference.flash_attention_forward, *case.args.values())
    assert full >= 8 * peak, f"full matrix {full} bytes vs the reference's peak {peak}"
    limit = checks.memory_limit(case)
    assert limit == full // 4
    assert peak <= limit / 2  # margin for tiled code less frugal than ours
    from mhaquiz.grader import grade

    plan = grade._plan(get_exercise("flash_attention_forward"), 0)
    assert kernel_peak(plan) <= limit / 2  # the kernel's count, as the warden measures it, agrees


def _full_scores(q, k, v, mask, block_size):
    s = q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    p = np.exp(s - m)
    l = p.sum(axis=-1, keepdims=True)
    return p @ v / l, (m + np.log(l))[..., 0]


def _tiled_but_keeping_probabilities(q, k, v, mask, block_size):
    """Scores computed tile by tile, but every tile's probabilities kept (as float32, even): (Tq, Tk) again."""
    tiles, maxima = [], []
    for start in range(0, k.shape[-2], block_size):
        s = q @ k[..., start:start + block_size, :].swapaxes(-1, -2) / np.sqrt(q.shape[-1])
        s = np.where(mask[..., start:start + block_size], s, -np.inf)
        tiles.append(s.astype(np.float32))
        maxima.append(s.max(axis=-1))
    m = np.max(maxima, axis=0)
    p = np.exp(np.concatenate(tiles, axis=-1) - m[..., None])  # the full (Tq, Tk) probabilities
    l = p.sum(axis=-1)
    return (p @ v) / l[..., None], m + np.log(l)


@pytest.mark.parametrize("submission", [_full_scores, _tiled_but_keeping_probabilities])
def test_a_full_matrix_of_scores_or_probabilities_exceeds_the_limit(submission):
    checks, case, full = _memory_setup()
    assert traced_peak(submission, *case.args.values()) > checks.memory_limit(case)


NAIVE = '''import numpy as np


def flash_attention_forward(q, k, v, mask, block_size):
    s = q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1])  # the full (Tq, Tk) scores
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    p = np.exp(s - m)
    l = p.sum(axis=-1, keepdims=True)
    return p @ v / l, (m + np.log(l))[..., 0]
'''


def test_plain_softmax_qkt_v_fails_with_memory_limit_exceeded(tmp_path):
    from rich.console import Console

    from mhaquiz.grader.render import render
    from mhaquiz.i18n import t

    report = grade_source(tmp_path, "flash_attention_forward", NAIVE)
    assert report.verdict == Verdict.MEMORY_LIMIT, report.detail
    result = report.exercises[0]
    assert all(case.passed for case in result.cases)  # right answers: only the memory is wrong
    _, case, full = _memory_setup()
    assert result.memory["passed"] is False
    assert result.memory["peak"] >= full  # at least one full (Tq, Tk) float64 matrix
    assert result.memory["peak"] > result.memory["limit"] == full // 4
    assert result.memory["reference"] <= result.memory["limit"] / 2
    assert report.detail.key == "detail.memory_peak"
    assert report.where == ("flash_attention_forward", "")
    for lang, words in (("en", "the full score matrix is being built"), ("zh", "完整的分数矩阵")):
        buffer = io.StringIO()
        render(report, Console(file=buffer, width=300, no_color=True), lang)
        text = buffer.getvalue()
        assert words in text, text
        assert t(f"verdict.{Verdict.MEMORY_LIMIT.value}", lang) in text
        assert case.shapes in text
