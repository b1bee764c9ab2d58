"""The transformer_block exercise: a pre-LN (GPT-2 style) decoder layer, h = x + MHA(LN1(x)), y = h + FFN(LN2(h)).

The reference agrees with PyTorch's own ops (F.layer_norm, F.scaled_dot_product_attention, F.gelu with the tanh
approximation) and with a plain loop-by-loop NumPy restatement; it passes its own checks through the real
grader; every declared mistake, written as a one-edit buggy submission, fails with its own name; the untouched
stub is reported as not implemented; and the layer keeps the properties a decoder layer must have.
"""

import ast
import math

import numpy as np
import pytest

from mhaquiz.grader import exercises as registry
from mhaquiz.grader.diagnose import call, mutated_reference
from mhaquiz.grader.grade import grade_file
from mhaquiz.grader.spec import Tolerance
from mhaquiz.grader.verdict import Verdict
from tests.helpers import reference_source, with_edits, write

EXERCISE = "transformer_block"

LN1_X = 'layer_norm(x, params["ln1_gamma"], params["ln1_beta"], eps)'
LN2_H = 'layer_norm(h, params["ln2_gamma"], params["ln2_beta"], eps)'
ATTEND = f"a = self_attention({LN1_X}, params, num_heads, mask)"
FEED = f"m = ffn({LN2_H}, params)"
TANH_GELU = "return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))"
SOFTMAX_CALL = "return softmax(scores, axis=-1, out=scores, where=allowed)"
MASK_LINE = "allowed = True if mask is None else mask"
SPLIT = "return x.reshape(B, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)"
MERGE = "return x.transpose(0, 2, 1, 3).reshape(B, T, H * dh)"

# Every mutant the exercise declares, as a buggy submission a few characters away from the reference.
BUGS = {
    "post_ln": [(ATTEND, "a = self_attention(x, params, num_heads, mask)"),
                ("h = x + a ", 'h = layer_norm(x + a, params["ln1_gamma"], params["ln1_beta"], eps) '),
                (FEED, "m = ffn(h, params)"),
                ("return h + m ", 'return layer_norm(h + m, params["ln2_gamma"], params["ln2_beta"], eps) ')],
    "residual_from_normed": [(ATTEND, f"x = {LN1_X}\n    a = self_attention(x, params, num_heads, mask)"),
                             (FEED, f"h = {LN2_H}\n    m = ffn(h, params)")],
    "norm_after_sublayer": [(ATTEND, 'a = layer_norm(self_attention(x, params, num_heads, mask), params["ln1_gamma"], '
                                     'params["ln1_beta"], eps)'),
                            (FEED, 'm = layer_norm(ffn(h, params), params["ln2_gamma"], params["ln2_beta"], eps)')],
    "no_attn_residual": [("h = x + a ", "h = a ")],
    "no_ffn_residual": [("return h + m ", "return m ")],
    "ln_params_swapped": [(LN1_X, 'layer_norm(x, params["ln2_gamma"], params["ln2_beta"], eps)'),
                          (LN2_H, 'layer_norm(h, params["ln1_gamma"], params["ln1_beta"], eps)')],
    "ln_unbiased_variance": [("var = (centred * centred).mean(axis=-1, keepdims=True)",
                              "var = (centred * centred).sum(axis=-1, keepdims=True) / (x.shape[-1] - 1)")],
    "ln_eps_outside_sqrt": [("centred / np.sqrt(var + eps)", "centred / (np.sqrt(var) + eps)")],
    "rms_norm_instead": [("centred = x - mean ", "centred = x ")],
    "ln_over_time": [("mean = x.mean(axis=-1, keepdims=True)", "mean = x.mean(axis=1, keepdims=True)"),
                     ("var = (centred * centred).mean(axis=-1, keepdims=True)",
                      "var = (centred * centred).mean(axis=1, keepdims=True)")],
    "gelu_exact": [("import numpy as np", "import math\n\nimport numpy as np"),
                   (TANH_GELU, "return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))")],
    "relu_instead_of_gelu": [(TANH_GELU, "return np.maximum(x, 0.0)")],
    "no_scale": [("scores = (Q / np.sqrt(dh)) @", "scores = Q @")],
    "scale_by_d_model": [("(Q / np.sqrt(dh))", "(Q / np.sqrt(dh * Q.shape[-3]))")],
    "softmax_over_queries": [(SOFTMAX_CALL, "return softmax(scores, axis=-2, out=scores, where=allowed)")],
    "split_without_transpose": [(SPLIT, "return x.reshape(B, num_heads, T, D // num_heads)")],
    "merge_without_transpose": [(MERGE, "return x.reshape(B, T, H * dh)")],
    "heads_interleaved": [(SPLIT, "return x.reshape(B, T, D // num_heads, num_heads).transpose(0, 3, 1, 2)"),
                          (MERGE, "return x.transpose(0, 2, 3, 1).reshape(B, T, H * dh)")],
    "mask_ignored": [(MASK_LINE, "allowed = True")],
    "mask_causal_hardwired": [(MASK_LINE, "allowed = np.tril(np.ones(scores.shape[-2:], dtype=bool))")],
    "mask_inverted": [(MASK_LINE, "allowed = True if mask is None else ~mask")],
    "mask_after_softmax": [(SOFTMAX_CALL, "return softmax(scores, axis=-1) * allowed")],
    "mask_fill_too_small": [(SOFTMAX_CALL, "return softmax(np.where(allowed, scores, -1e4), axis=-1)")],
    "mask_without_head_axis": [("return np.expand_dims(mask, -3)", "return mask")],
    "biases_ignored": [(f' + params["b_{name}"]', "") for name in ("q", "k", "v", "o", "1", "2")],
}
# These bugs cannot take the shapes of some case (a (B, T, T) mask with B != H), so the run ends in an error.
RAISES = {"mask_without_head_axis"}


def exercise():
    return registry.get_exercise(EXERCISE)


def cases():
    return exercise().checks().make_cases(0)


def grade_source(tmp_path, source, name="transformer_block.py"):
    return grade_file(write(tmp_path, name, source), exercise_ids=[EXERCISE])


# --- the folder ----------------------------------------------------------------------------------------------

def test_exercise_folder_is_complete():
    ex = exercise()
    meta = ex.meta
    assert meta["order"] == 160
    assert not meta.get("building_block", False)
    assert meta["title"]["zh"] and meta["title"]["en"]
    assert 3 <= len(meta["hints"]) <= 6
    assert all(hint["zh"].strip() and hint["en"].strip() for hint in meta["hints"])
    for lang in ("zh", "en"):
        assert ex.prompt(lang).startswith("# ")
    assert ex.functions == ("transformer_block",)
    assert 5 <= len(cases()) <= 9
    assert all(case.args["mask"] is not None for case in cases())  # "the mask forgotten" is always catchable


def test_the_reference_file_is_detected_as_this_exercise_only():
    names = registry.defined_names(ast.parse(reference_source(EXERCISE)))
    assert [e.id for e in registry.detect(names)] == [EXERCISE]


# --- the real grader -----------------------------------------------------------------------------------------

def test_reference_passes_every_case(tmp_path):
    report = grade_source(tmp_path, reference_source(EXERCISE), "ref.py")
    assert report.verdict == Verdict.PASSED, report.detail
    assert [e.id for e in report.exercises] == [EXERCISE]
    assert all(case.passed for case in report.exercises[0].cases)


def test_untouched_stub_fails_cleanly():
    report = grade_file(exercise().stub_path, exercise_ids=[EXERCISE])
    assert report.verdict == Verdict.NOT_IMPLEMENTED, report.detail
    result = report.exercises[0]
    assert result.cases and all(case.error["type"] == "NotImplementedError" for case in result.cases)
    assert result.diagnosis == []


def test_every_declared_mutant_has_a_buggy_submission():
    assert {mutant.id for mutant in exercise().checks().MUTANTS} == set(BUGS)


@pytest.mark.parametrize("mistake", sorted(BUGS))
def test_bug_is_named(tmp_path, mistake):
    report = grade_source(tmp_path, with_edits(reference_source(EXERCISE), *BUGS[mistake]))
    expected = Verdict.RUNTIME_ERROR if mistake in RAISES else Verdict.WRONG_ANSWER
    assert report.verdict == expected, report.detail
    assert report.exercises[0].diagnosis[0].mistake == mistake, [d.mistake for d in report.exercises[0].diagnosis]


def test_forgetting_the_mask_fails_every_case(tmp_path):
    report = grade_source(tmp_path, with_edits(reference_source(EXERCISE), *BUGS["mask_ignored"]))
    assert all(case.verdict == Verdict.WRONG_ANSWER for case in report.exercises[0].cases)


def test_a_hard_wired_causal_mask_fails_exactly_the_padding_cases(tmp_path):
    report = grade_source(tmp_path, with_edits(reference_source(EXERCISE), *BUGS["mask_causal_hardwired"]))
    failed = {case.name for case in report.exercises[0].cases if not case.passed}
    padded = {case.name for case in cases() if np.ndim(case.args["mask"]) == 3  # and the (T, T) mask that is not causal
              or not np.array_equal(case.args["mask"], np.tril(np.ones(case.args["mask"].shape, dtype=bool)))}
    assert padded and failed == padded


def test_every_mistake_is_far_beyond_a_float32_slip_somewhere():
    """Each mutant misses the reference by more than 1e-4 of the case's scale on at least one case."""
    ex = exercise()
    reference = ex.reference()
    the_cases = cases()
    expected = [call(reference, case)["out"] for case in the_cases]
    for mutant in ex.checks().MUTANTS:
        module = mutated_reference(ex, mutant)
        worst = 0.0
        for case, want in zip(the_cases, expected):
            try:
                got = call(module, case, mutant)["out"]
            except Exception:  # noqa: BLE001  (this bug cannot take these shapes)
                continue
            with np.errstate(invalid="ignore"):
                gap = np.nan_to_num(np.abs(got - want), nan=np.inf).max()
            worst = max(worst, gap / Tolerance.scale([want]))
        assert worst > 1e-4, f"{mutant.id}: at most {worst:.1e} of the scale"


# --- an independent NumPy restatement (loops, scalar math) -----------------------------------------------

def loop_block(x, p, num_heads, mask):
    """The layer written out position by position, head by head, with math's scalar functions."""
    B, T, D = x.shape
    dh = D // num_heads
    allowed = np.broadcast_to(mask, (B, T, T))
    eps = p["eps"]

    def norm(v, gamma, beta):
        mu = sum(v) / D
        var = sum((vi - mu) ** 2 for vi in v) / D
        return np.array([(v[i] - mu) / math.sqrt(var + eps) * gamma[i] + beta[i] for i in range(D)])

    def gelu(u):
        return 0.5 * u * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (u + 0.044715 * u * u * u)))

    y = np.empty_like(x)
    for b in range(B):
        z = np.array([norm(x[b, t], p["ln1_gamma"], p["ln1_beta"]) for t in range(T)])
        q, k, v = (z @ p[f"W_{n}"] + p[f"b_{n}"] for n in "qkv")
        heads = np.zeros((T, D))
        for head in range(num_heads):
            cols = slice(head * dh, (head + 1) * dh)
            for i in range(T):
                keys = [j for j in range(T) if allowed[b, i, j]]
                scores = [float(q[i, cols] @ k[j, cols]) / math.sqrt(dh) for j in keys]
                top = max(scores)
                weights = [math.exp(s - top) for s in scores]
                total = sum(weights)
                heads[i, cols] = sum(w / total * v[j, cols] for w, j in zip(weights, keys))
        h = x[b] + heads @ p["W_o"] + p["b_o"]
        for t in range(T):
            u = norm(h[t], p["ln2_gamma"], p["ln2_beta"]) @ p["W_1"] + p["b_1"]
            y[b, t] = h[t] + np.array([gelu(ui) for ui in u]) @ p["W_2"] + p["b_2"]
    return y


@pytest.mark.parametrize("case", cases(), ids=lambda case: case.name)
def test_reference_matches_a_loop_by_loop_restatement(case):
    x, params, num_heads, mask = case.args.values()
    got = exercise().reference().transformer_block(x, params, num_heads, mask)
    np.testing.assert_allclose(got, loop_block(x, params, num_heads, mask), rtol=1e-10, atol=1e-11)


# --- PyTorch as an independent oracle --------------------------------------------------------------------

def torch_block(torch, x, p, num_heads, mask):
    """The same layer from PyTorch's own ops: F.layer_norm, F.linear (weights stored (out, in)), SDPA, F.gelu."""
    F = torch.nn.functional
    B, T, D = x.shape

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a))

    def linear(z, name):  # our z @ W + b is F.linear(z, W.T, b)
        return F.linear(z, t(p[f"W_{name}"]).T, t(p[f"b_{name}"]))

    def norm(z, which):
        return F.layer_norm(z, (D,), t(p[f"{which}_gamma"]), t(p[f"{which}_beta"]), eps=p["eps"])

    def heads(z):
        return z.view(B, T, num_heads, D // num_heads).transpose(1, 2)

    X = t(x)
    z = norm(X, "ln1")
    attn_mask = t(np.broadcast_to(mask, (B, T, T)).copy())[:, None]  # (B, 1, T, T): True = takes part, as ours
    o = F.scaled_dot_product_attention(heads(linear(z, "q")), heads(linear(z, "k")), heads(linear(z, "v")),
                                       attn_mask=attn_mask)
    h = X + linear(o.transpose(1, 2).reshape(B, T, D), "o")
    m = linear(F.gelu(linear(norm(h, "ln2"), "1"), approximate="tanh"), "2")
    return (h + m).numpy()


@pytest.mark.parametrize("case", cases(), ids=lambda case: case.name)
def test_reference_matches_torch(case):
    torch = pytest.importorskip("torch")
    x, params, num_heads, mask = case.args.values()
    got = exercise().reference().transformer_block(x, params, num_heads, mask)
    np.testing.assert_allclose(got, torch_block(torch, x, params, num_heads, mask), rtol=1e-10, atol=1e-11)


def test_the_contract_gelu_is_torchs_tanh_form_and_far_from_the_erf_form():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    u = np.linspace(-6.0, 6.0, 2001)
    gelu = exercise().reference().gelu(u)
    np.testing.assert_allclose(gelu, F.gelu(torch.from_numpy(u), approximate="tanh").numpy(), rtol=1e-14, atol=1e-15)
    exact = F.gelu(torch.from_numpy(u), approximate="none").numpy()
    gap = np.abs(gelu - exact)
    assert 4.5e-4 < gap.max() < 5e-4 and 2.5 < abs(u[gap.argmax()]) < 3.0


# --- properties of a decoder layer ------------------------------------------------------------------------

def test_a_causal_layer_never_looks_ahead():
    block = exercise().reference().transformer_block
    case = cases()[0]
    x, params, num_heads, mask = case.args.values()
    y = block(x, params, num_heads, mask)
    for t0 in (1, x.shape[1] - 1):
        changed = x.copy()
        changed[:, t0:] += np.random.default_rng(t0).standard_normal(changed[:, t0:].shape)
        y2 = block(changed, params, num_heads, mask)
        np.testing.assert_array_equal(y2[:, :t0], y[:, :t0])
        assert np.abs(y2[:, t0:] - y[:, t0:]).max() > 0.1


def test_padded_positions_change_nothing_but_themselves():
    block = exercise().reference().transformer_block
    for case in cases():
        x, params, num_heads, mask = case.args.values()
        if np.ndim(mask) != 3:
            continue
        lengths = mask[:, -1].sum(axis=-1)  # the last query sees every real key of its example
        changed = x.copy()
        for b, length in enumerate(lengths):
            changed[b, length:] = 100.0
        y, y2 = block(x, params, num_heads, mask), block(changed, params, num_heads, mask)
        assert any(length < x.shape[1] for length in lengths)
        for b, length in enumerate(lengths):
            np.testing.assert_allclose(y2[b, :length], y[b, :length], rtol=0, atol=1e-12)


def test_zero_sub_layers_leave_the_residual_stream():
    ref = exercise().reference()
    x, params, num_heads, mask = cases()[1].args.values()
    no_ffn = {**params, "W_2": np.zeros_like(params["W_2"]), "b_2": np.zeros_like(params["b_2"])}
    h = x + ref.self_attention(ref.layer_norm(x, params["ln1_gamma"], params["ln1_beta"], params["eps"]),
                               params, num_heads, mask)
    np.testing.assert_allclose(ref.transformer_block(x, no_ffn, num_heads, mask), h, rtol=0, atol=1e-14)
    neither = {**no_ffn, "W_o": np.zeros_like(params["W_o"]), "b_o": np.zeros_like(params["b_o"])}
    np.testing.assert_array_equal(ref.transformer_block(x, neither, num_heads, mask), x)


def test_layer_norm_normalises_the_last_axis():
    layer_norm = exercise().reference().layer_norm
    x = np.random.default_rng(0).standard_normal((2, 3, 7)) * 3.0 + 5.0
    out = layer_norm(x, np.ones(7), np.zeros(7), 0.0)
    np.testing.assert_allclose(out.mean(axis=-1), 0.0, atol=1e-14)
    np.testing.assert_allclose(out.var(axis=-1), 1.0, rtol=1e-13)  # biased: divided by D


def test_no_mask_means_every_key_is_seen():
    block = exercise().reference().transformer_block
    x, params, num_heads, _ = cases()[0].args.values()
    T = x.shape[1]
    np.testing.assert_array_equal(block(x, params, num_heads, None),
                                  block(x, params, num_heads, np.ones((T, T), dtype=bool)))


def test_the_reference_leaves_its_inputs_alone():
    block = exercise().reference().transformer_block
    for case in cases():
        x, params, num_heads, mask = case.args.values()
        frozen = [x, mask, *[v for v in params.values() if isinstance(v, np.ndarray)]]
        before = [a.copy() for a in frozen]
        for a in frozen:
            a.flags.writeable = False
        try:
            block(x, params, num_heads, mask)
        finally:
            for a in frozen:
                a.flags.writeable = True
        assert all(np.array_equal(a, b) for a, b in zip(frozen, before))
