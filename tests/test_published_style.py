"""The grader against implementations written in the styles of published attention code.

Every module in tests/published_style/ reproduces how one published family writes multi-head attention
(nn.Linear's (out, in) weights, masked_fill(mask == 0, -1e9), einsum, loops over heads, fused qkv
projections, hand-written NumPy backward passes with caches, ...) plus a thin adapter to the mhaquiz
contract. Each was checked against an independent PyTorch float64 oracle (F.scaled_dot_product_attention
and autograd), so its TRUE outcome is known; the grader must reach it at every seed:

- "passed":    correct up to float64 rounding -> the verdict is "passed";
- "precision": correct except for a float32 constant (sqrt(d_head) rounded to float32: 1.7e-8 to 3.6e-8
               relative, invisible when d_head is a power of 4) -> not passed, and the first diagnosis is
               the mistake "precision";
- a mistake id: a real bug the catalogue knows -> not passed, and that mistake is named first;
- None:        a real bug the catalogue has no name for -> not passed (whatever the diagnosis).

A real bug is never to be presented first as a rounding matter: its first diagnosis must not be "precision".

NOT_NAMED lists diagnoses that would be false for a module (shape coincidences: a bug that divides by the
batch size B looks like `backward_scale_twice`, a division by sqrt(d_head), when B == 2 and d_head == 4).

Only the table and the two small accessors below need to change when the grader's report changes.
"""

from pathlib import Path

import pytest

from mhaquiz.grader.grade import grade_file
from tests.helpers import judge_source

STYLE_DIR = Path(__file__).parent / "published_style"
SEEDS = (0, 1, 2, 5, 8)
FWD, BWD = "mha_forward", "mha_backward"
PASSED, PRECISION, BUGGY = "passed", "precision", None

# module -> {exercise: expected outcome}
EXPECTED = {
    # correct
    "annotated_transformer_style": {FWD: PASSED, BWD: PASSED},
    "labml_einsum_style": {FWD: PASSED},
    "nanogpt_fused_qkv_style": {FWD: PASSED},
    "picogpt_numpy_style": {FWD: PASSED},
    "cs231n_style": {FWD: PASSED, BWD: PASSED},
    "pytorch_nn_mha_style": {FWD: PASSED, BWD: PASSED},
    "pytorch_functional_numpy_style": {FWD: PASSED},
    "numpy_cache_backward_style": {FWD: PASSED, BWD: PASSED},
    "numpyml_layer_style": {FWD: PASSED, BWD: PASSED},
    "deepml_functions_style": {FWD: PASSED},
    "sooftware_head_major_style": {FWD: PASSED},
    # correct but for a float32 constant
    "seq2seq_float32_scale_style": {FWD: PRECISION, BWD: PRECISION},
    "cs231n_float32_scale_style": {FWD: PRECISION, BWD: PRECISION},
    "numpy_cache_float32_scale_style": {FWD: PRECISION, BWD: PRECISION},
    # real published bugs (or limits: d2l's valid lengths cannot express a general boolean mask)
    "d2l_valid_lens_style": {FWD: BUGGY},
    "softmax_grad_divided_by_batch": {FWD: PASSED, BWD: "softmax_grad_over_batch"},
    "param_grads_averaged_over_batch": {FWD: PASSED, BWD: BUGGY},
    "mask_without_head_axis": {FWD: "mask_without_head_axis"},
    # the mask HAS a head axis, but masks and scores are flattened in different batch/head orders: example b's
    # mask lands on head b, which the mistake's title names
    "mask_batch_head_order": {FWD: "mask_without_head_axis"},
    # minGPT's block: k and v ignored (q attends to itself) AND a causal mask hard-wired: two mistakes at once,
    # the first not in the catalogue, so no single name may be claimed
    "causal_mask_hardwired": {FWD: BUGGY},
    "mask_fill_minus_1e4": {FWD: "mask_fill_too_small"},
    "key_length_from_query": {FWD: BUGGY},
    "mask_not_supported": {FWD: "mask_ignored"},
    # inf loss from np.log of an underflowed probability; the right gradient tells it from log-sum-exp without
    # the max (which gives inf too)
    "cs231n_temporal_softmax_style": {"cross_entropy": "log_of_stable_softmax"},
    # unbiased std AND eps outside the square root: named as that pair (tests/test_diagnose_strict.py)
    "annotated_transformer_layernorm_style": {"layer_norm": BUGGY},
    # no weight AND eps fixed at 1e-6: named as that pair (tests/test_diagnose_strict.py)
    "rmsnorm_no_weight_style": {"rms_norm": BUGGY},
}

# (module, exercise) -> mistakes that must not be named
NOT_NAMED = {
    ("softmax_grad_divided_by_batch", BWD): {"backward_scale_twice", "bias_grad_mean"},
    # the input gradients are right and dV, W_o are wrong: not a softmax-gradient bug, not a (B*T) mean
    ("param_grads_averaged_over_batch", BWD): {"backward_scale_twice", "bias_grad_mean", "softmax_grad_over_batch"},
    ("seq2seq_float32_scale_style", FWD): {"no_max_subtraction"},
    ("seq2seq_float32_scale_style", BWD): {"no_max_subtraction"},
    ("cs231n_float32_scale_style", FWD): {"no_max_subtraction"},
    ("cs231n_float32_scale_style", BWD): {"no_max_subtraction"},
    ("numpy_cache_float32_scale_style", FWD): {"no_max_subtraction"},
    ("numpy_cache_float32_scale_style", BWD): {"no_max_subtraction"},
    ("cs231n_temporal_softmax_style", "cross_entropy"): {"logsumexp_without_max", "log_of_softmax"},
}


def verdict_of(report) -> str:
    return report.verdict


def mistakes_of(report) -> list:
    """The diagnosed mistake ids of the (only) graded exercise, most important first."""
    return [diagnosis.mistake for diagnosis in report.exercises[0].diagnosis] if report.exercises else []


def _params():
    for module, outcomes in EXPECTED.items():
        for exercise, expected in outcomes.items():
            for seed in SEEDS:
                yield pytest.param(module, exercise, expected, seed, id=f"{module}-{exercise}-seed{seed}")


def test_every_module_is_in_the_table():
    assert sorted(path.stem for path in STYLE_DIR.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("module, exercise, expected, seed", list(_params()))
def test_published_style(module, exercise, expected, seed, monkeypatch):
    """Run in-process, as a runner would call it (the numbers are the subject here, not the sandbox: the
    modules are our own test code; a few are graded through the sandbox below)."""
    monkeypatch.syspath_prepend(str(STYLE_DIR))  # a module may import its siblings, as in the sandbox's folder
    path = STYLE_DIR / f"{module}.py"
    source = path.read_text(encoding="utf-8")
    if "import torch" in source:
        pytest.importorskip("torch")
    report = judge_source(exercise, source, "numpy", seed)
    check_outcome(report, module, exercise, expected)


@pytest.mark.parametrize("module, exercise", [("cs231n_style", FWD), ("numpy_cache_backward_style", BWD),
                                              ("mask_without_head_axis", FWD), ("cs231n_float32_scale_style", BWD)])
def test_published_style_through_the_sandbox(module, exercise):
    """The same outcome when the module is graded as a learner's file is (a torch-using adapter included)."""
    path = STYLE_DIR / f"{module}.py"
    if "import torch" in path.read_text(encoding="utf-8"):
        pytest.importorskip("torch")
    report = grade_file(path, [exercise], seed=1, timeout=60.0)
    assert report.track == "numpy"
    check_outcome(report, module, exercise, EXPECTED[module][exercise])


def check_outcome(report, module, exercise, expected):
    verdict, mistakes = verdict_of(report), mistakes_of(report)
    seen = f"verdict {verdict!r} ({report.detail}), diagnosis {mistakes}"

    if expected == PASSED:
        assert verdict == PASSED, f"a correct implementation must pass: {seen}"
    else:
        assert verdict != PASSED, f"expected {expected or 'a failure'}, but it passed"
        if expected is not BUGGY:
            assert mistakes[:1] == [expected], f"expected the mistake {expected!r} first: {seen}"
        if expected != PRECISION:
            assert mistakes[:1] != [PRECISION], f"a real bug reported first as a precision slip: {seen}"
    wrong = NOT_NAMED.get((module, exercise), set()) & set(mistakes)
    assert not wrong, f"diagnosis {sorted(wrong)} is false for {module}: {seen}"
