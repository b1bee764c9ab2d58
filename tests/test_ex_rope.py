"""The RoPE exercises: rope (a building block) and mha_rope_forward.

For each: the folder is complete, the reference passes its own checks through the real grader, every declared
mutant is a one-edit buggy submission failing with its exact verdict and its mistake named, the untouched stub
is reported as not implemented; the references agree with a plain-NumPy restatement in RoFormer's complex
formulation (always) and with PyTorch (Hugging Face's and Meta's Llama RoPE transcribed, and
F.scaled_dot_product_attention) where torch is installed; plus the properties RoPE is for.
"""

import ast
import cmath

import numpy as np
import pytest

from mhaquiz.grader import exercises as registry
from mhaquiz.grader import inputs
from mhaquiz.grader.diagnose import mutated_reference
from mhaquiz.grader.exercises import get_exercise
from mhaquiz.grader.grade import grade_file
from mhaquiz.grader.verdict import Verdict
from tests.helpers import MHA_SOURCE_BUGS, reference_source, with_edits, write

EXERCISES = ("rope", "mha_rope_forward")
ORDERS = {"rope": 130, "mha_rope_forward": 135}

# --- one-edit buggy submissions ------------------------------------------------------------------------

# Edits of the RoPE helpers, the same text in both references.
ROPE_BUGS = {
    "pairs_interleaved": [("angles = np.concatenate([angles, angles], axis=-1)", "angles = np.repeat(angles, 2, axis=-1)"),
                          ("return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)",
                           "return np.stack([-x[..., 1::2], x[..., 0::2]], axis=-1).reshape(x.shape)")],
    "exponent_i_over_d": [("np.arange(0, d, 2) / d", "np.arange(d // 2) / d")],
    "exponent_from_one": [("np.arange(0, d, 2) / d", "np.arange(2, d + 2, 2) / d")],
    "base_ignored": [("return base ** (-np.arange(0, d, 2) / d)", "return 10000.0 ** (-np.arange(0, d, 2) / d)")],
    "positions_ignored": [("np.asarray(positions)[..., None]", "np.arange(np.shape(positions)[-1])[:, None]")],
    "sin_cos_swapped": [("return np.cos(angles), np.sin(angles)", "return np.sin(angles), np.cos(angles)")],
    "rotation_direction_flipped": [("np.concatenate([-x[..., half:], x[..., :half]], axis=-1)",
                                    "np.concatenate([x[..., half:], -x[..., :half]], axis=-1)")],
    "second_half_not_rotated": [("    return x * cos + rotate_half(x) * sin  # (..., T, d)",
                                 "    half = x.shape[-1] // 2\n"
                                 "    return np.concatenate([x[..., :half] * cos[..., :half] - x[..., half:] * sin[..., :half],"
                                 " x[..., half:]], axis=-1)")],
}

SPLIT = "x.reshape(B, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)"
MERGE = "x.transpose(0, 2, 1, 3).reshape(B, T, H * dh)"
ROTATE_Q = "    Q = rope(Q, q_positions, base)  # (B, H, Tq, dh): each head rotated on its own dh features\n"
ROTATE_K = "    K = rope(K, k_positions, base)  # (B, H, Tk, dh); V stays as it is\n"

MHA_BUGS = {
    "v_rotated": [(ROTATE_K, ROTATE_K + "    V = rope(V, k_positions, base)\n")],
    "rope_before_split": [(ROTATE_Q, ""), (ROTATE_K, ""),
                          ('split_heads(q @ params["W_q"] + params["b_q"], num_heads)',
                           'split_heads(rope(q @ params["W_q"] + params["b_q"], q_positions, base), num_heads)'),
                          ('split_heads(k @ params["W_k"] + params["b_k"], num_heads)',
                           'split_heads(rope(k @ params["W_k"] + params["b_k"], k_positions, base), num_heads)')],
    "positions_swapped": [("Q = rope(Q, q_positions, base)", "Q = rope(Q, k_positions, base)"),
                          ("K = rope(K, k_positions, base)", "K = rope(K, q_positions, base)")],
    "k_positions_ignored": [("K = rope(K, k_positions, base)", "K = rope(K, q_positions, base)")],
    **{mistake: edits for mistake, edits in ROPE_BUGS.items() if mistake != "sin_cos_swapped"},
    **MHA_SOURCE_BUGS,
    "mask_without_head_axis": [("return np.expand_dims(mask, -3)", "return mask")],
    "mask_fill_too_small": [("return softmax(scores, axis=-1, out=scores, where=allowed)",
                             "return softmax(np.where(allowed, scores, -1e4), axis=-1)")],
}

BUGS = {"rope": ROPE_BUGS, "mha_rope_forward": MHA_BUGS}
# K rotated at the query positions cannot broadcast where Tq != Tk and Tq != 1 (KV-cache continuation, large
# base): the first verdict is the runtime error; the decoding step and arbitrary positions name it.
# Q rotated at the key positions cannot broadcast there either (and returns Tk rows on the decoding step).
CRASHING = {("mha_rope_forward", "k_positions_ignored"), ("mha_rope_forward", "positions_swapped")}


def grade_source(tmp_path, exercise, source, name=None):
    return grade_file(write(tmp_path, name or f"{exercise}.py", source), exercise_ids=[exercise])


# --- the exercise folders and the grader's view ------------------------------------------------------------

@pytest.mark.parametrize("exercise", EXERCISES)
def test_exercise_folder_is_complete(exercise):
    ex = registry.get_exercise(exercise)
    meta = ex.meta
    assert meta["order"] == ORDERS[exercise]
    assert meta.get("building_block", False) is (exercise == "rope")
    assert meta["title"]["zh"] and meta["title"]["en"]
    assert 3 <= len(meta["hints"]) <= 6
    assert all(hint["zh"].strip() and hint["en"].strip() for hint in meta["hints"])
    for lang in ("zh", "en"):
        prompt = ex.prompt(lang)
        assert prompt.startswith("# ")
        assert "rotate_half" in prompt and "25199" in prompt  # the convention, and where the other one lives
    assert ex.functions == (exercise,)
    assert callable(getattr(ex.reference(), exercise))


@pytest.mark.parametrize("exercise", EXERCISES)
def test_reference_passes_every_case(tmp_path, exercise):
    report = grade_source(tmp_path, exercise, reference_source(exercise), "ref.py")
    assert report.verdict == Verdict.PASSED, report.detail
    assert [e.id for e in report.exercises] == [exercise]
    assert report.exercises[0].cases and all(case.passed for case in report.exercises[0].cases)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_untouched_stub_fails_cleanly(exercise):
    report = grade_file(registry.get_exercise(exercise).stub_path, exercise_ids=[exercise])
    assert report.verdict == Verdict.NOT_IMPLEMENTED, report.detail
    result = report.exercises[0]
    assert result.cases and all(case.error["type"] == "NotImplementedError" for case in result.cases)
    assert result.diagnosis == []


@pytest.mark.parametrize("exercise", EXERCISES)
def test_every_declared_mutant_has_a_buggy_submission(exercise):
    declared = {mutant.id for mutant in registry.get_exercise(exercise).checks().MUTANTS}
    assert declared == set(BUGS[exercise])


@pytest.mark.parametrize("exercise, mistake", [(e, m) for e in EXERCISES for m in sorted(BUGS[e])])
def test_bug_is_named(tmp_path, exercise, mistake):
    report = grade_source(tmp_path, exercise, with_edits(reference_source(exercise), *BUGS[exercise][mistake]))
    expected = Verdict.RUNTIME_ERROR if (exercise, mistake) in CRASHING else Verdict.WRONG_ANSWER
    assert report.verdict == expected, report.detail
    diagnosis = report.exercises[0].diagnosis
    assert diagnosis and diagnosis[0].mistake == mistake, [d.mistake for d in diagnosis]


def test_sin_and_cos_swapped_is_the_flipped_direction_in_attention(tmp_path):
    # cos/sin swapped turns by pi/2 - m*theta, and the constant pi/2 cancels in q.k: as far as attention can
    # tell, it is the flipped direction (rope, which returns the rotated vectors, tells the two apart).
    source = with_edits(reference_source("mha_rope_forward"), *ROPE_BUGS["sin_cos_swapped"])
    report = grade_source(tmp_path, "mha_rope_forward", source)
    assert report.verdict == Verdict.WRONG_ANSWER, report.detail
    assert report.exercises[0].diagnosis[0].mistake == "rotation_direction_flipped"


def test_the_rope_heatmap_names_position_and_feature(tmp_path):
    report = grade_source(tmp_path, "rope", with_edits(reference_source("rope"), *ROPE_BUGS["base_ignored"]))
    heatmap = report.exercises[0].heatmap
    assert heatmap.case == "large base"  # the only case whose base is not 10000
    assert (heatmap.rows, heatmap.cols) == ("axis.position", "axis.feature")


def test_detection():
    def detected(source):
        return [exercise.id for exercise in registry.detect(registry.defined_names(ast.parse(source)))]

    assert detected(reference_source("rope")) == ["rope"]
    # It defines rope and softmax too, building blocks both: only the whole exercise is graded.
    assert detected(reference_source("mha_rope_forward")) == ["mha_rope_forward"]


# --- independent oracles -------------------------------------------------------------------------------

def rope_complex(x, positions, base):
    """RoFormer's formulation (§3.2.2): pair i = 1 .. d/2 is the complex number x_(i) + i*x_(i+d/2) in OUR
    half-split pairing, multiplied by e^{i m theta_i}, theta_i = base^(-2(i-1)/d). Loops, on purpose."""
    d = x.shape[-1]
    half = d // 2
    pos = np.broadcast_to(positions, x.shape[:-1])
    out = np.empty_like(x)
    for index in np.ndindex(*x.shape[:-1]):
        m = int(pos[index])
        for i in range(1, half + 1):
            theta = base ** (-2.0 * (i - 1) / d)
            z = complex(x[index + (i - 1,)], x[index + (i - 1 + half,)]) * cmath.exp(1j * m * theta)
            out[index + (i - 1,)], out[index + (i - 1 + half,)] = z.real, z.imag
    return out


def interleave(d):
    """The permutation taking our half-split layout to the interleaved one: (x_0, x_h, x_1, x_(h+1), ...)."""
    half = d // 2
    return np.stack([np.arange(half), np.arange(half) + half], axis=-1).reshape(-1)


@pytest.fixture(scope="module")
def rope_ref():
    return get_exercise("rope").reference().rope


@pytest.fixture(scope="module")
def mha_ref():
    return get_exercise("mha_rope_forward").reference().mha_rope_forward


def test_rope_matches_the_complex_restatement(rope_ref):
    for case in get_exercise("rope").checks().make_cases(0):
        x, positions, base = case.args.values()
        np.testing.assert_allclose(rope_ref(x, positions, base), rope_complex(x, positions, base),
                                   rtol=1e-11, atol=1e-12, err_msg=case.name)


def test_rope_formula_by_hand(rope_ref):
    # d = 4, one token at position 3, base 100: theta = (1, 0.1); pairs (x0, x2) and (x1, x3).
    x = np.array([[1.0, 2.0, 3.0, 4.0]])
    c0, s0, c1, s1 = np.cos(3.0), np.sin(3.0), np.cos(0.3), np.sin(0.3)
    expected = [1 * c0 - 3 * s0, 2 * c1 - 4 * s1, 3 * c0 + 1 * s0, 4 * c1 + 2 * s1]
    np.testing.assert_allclose(rope_ref(x, np.array([3]), 100.0)[0], expected, rtol=1e-14)


def rope_mha_loops(q, k, v, params, num_heads, q_positions, k_positions, base, mask=None):
    """mha_rope_forward restated with loops over batch, heads and queries, RoPE in the complex form."""
    B, Tq, D = q.shape
    Tk, dh = k.shape[1], D // num_heads
    Qp, Kp, Vp = (x @ params[f"W_{n}"] + params[f"b_{n}"] for x, n in ((q, "q"), (k, "k"), (v, "v")))
    allowed = np.ones((B, Tq, Tk), bool) if mask is None else np.broadcast_to(mask, (B, Tq, Tk))
    heads = np.zeros((B, Tq, D))
    for b in range(B):
        for h in range(num_heads):
            cols = slice(h * dh, (h + 1) * dh)
            Qh = rope_complex(Qp[b, :, cols], q_positions, base)
            Kh = rope_complex(Kp[b, :, cols], k_positions, base)
            for i in range(Tq):
                scores = np.array([Qh[i] @ Kh[j] / np.sqrt(dh) if allowed[b, i, j] else -np.inf for j in range(Tk)])
                weights = np.exp(scores - scores.max())
                weights /= weights.sum()
                heads[b, i, cols] = weights @ Vp[b, :, cols]  # V as projected: not rotated
    return heads @ params["W_o"] + params["b_o"]


def test_mha_rope_matches_the_loop_restatement(mha_ref):
    for case in get_exercise("mha_rope_forward").checks().make_cases(0):
        np.testing.assert_allclose(mha_ref(*case.args.values()), rope_mha_loops(*case.args.values()),
                                   rtol=1e-9, atol=1e-9, err_msg=case.name)


def hf_rope_torch(torch, x, positions, base):
    """Hugging Face's Llama RoPE transcribed (LlamaRotaryEmbedding.forward, rotate_half, apply_rotary_pos_emb)."""
    d = x.shape[-1]
    inv_freq = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.int64).to(torch.float64) / d))
    freqs = positions.to(torch.float64)[..., None] * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)

    def rotate_half(t):
        return torch.cat((-t[..., d // 2:], t[..., : d // 2]), dim=-1)

    return x * emb.cos() + rotate_half(x) * emb.sin()


def meta_rope_torch(torch, x, positions, base):
    """Meta's Llama RoPE transcribed (precompute_freqs_cis, apply_rotary_emb): adjacent pairs as complex numbers."""
    d = x.shape[-1]
    freqs = 1.0 / (base ** (torch.arange(0, d, 2)[: d // 2].to(torch.float64) / d))
    angles = positions.to(torch.float64)[..., None] * freqs
    freqs_cis = torch.polar(torch.ones_like(angles), angles)
    x_ = torch.view_as_complex(x.reshape(*x.shape[:-1], -1, 2).contiguous())
    return torch.view_as_real(x_ * freqs_cis).flatten(-2)


def test_rope_matches_hugging_face_and_meta_up_to_the_permutation(rope_ref):
    torch = pytest.importorskip("torch")
    interleaved = mutated_reference(get_exercise("rope"), next(
        m for m in get_exercise("rope").checks().MUTANTS if m.id == "pairs_interleaved")).rope
    for case in get_exercise("rope").checks().make_cases(0):
        x, positions, base = case.args.values()
        ours = rope_ref(x, positions, base)
        tx, tp = torch.from_numpy(x), torch.from_numpy(positions)
        np.testing.assert_allclose(ours, hf_rope_torch(torch, tx, tp, base).numpy(), rtol=1e-12, atol=1e-12,
                                   err_msg=case.name)
        perm = interleave(x.shape[-1])  # Meta's layout of the same pairs: what HF's weight conversion undoes
        meta = meta_rope_torch(torch, torch.from_numpy(x[..., perm]), tp, base).numpy()
        np.testing.assert_allclose(ours[..., perm], meta, rtol=1e-12, atol=1e-12, err_msg=case.name)
        # The interleaved mutant is Meta's convention exactly, and differs from ours on the same input.
        meta_direct = meta_rope_torch(torch, tx, tp, base).numpy()
        np.testing.assert_allclose(interleaved(x, positions, base), meta_direct, rtol=1e-12, atol=1e-12)
        assert np.abs(meta_direct - ours).max() > 1e-3


def test_mha_rope_matches_torch_sdpa(mha_ref):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for case in get_exercise("mha_rope_forward").checks().make_cases(0):
        q, k, v, params, H, q_positions, k_positions, base, mask = case.args.values()
        t = {name: torch.from_numpy(value) for name, value in params.items()}
        B, Tq, D = q.shape
        Tk, dh = k.shape[1], D // H

        def heads(x, n, T):  # (B, T, D) -> (B, H, T, dh)
            return (torch.from_numpy(x) @ t[f"W_{n}"] + t[f"b_{n}"]).view(B, T, H, dh).transpose(1, 2)

        Q = hf_rope_torch(torch, heads(q, "q", Tq), torch.from_numpy(q_positions), base)
        K = hf_rope_torch(torch, heads(k, "k", Tk), torch.from_numpy(k_positions), base)
        attn_mask = None if mask is None else torch.from_numpy(np.broadcast_to(mask, (B, Tq, Tk)).copy())[:, None]
        out = F.scaled_dot_product_attention(Q, K, heads(v, "v", Tk), attn_mask=attn_mask)  # True = attends
        expected = out.transpose(1, 2).reshape(B, Tq, D) @ t["W_o"] + t["b_o"]
        np.testing.assert_allclose(mha_ref(*case.args.values()), expected.numpy(), rtol=1e-9, atol=1e-9,
                                   err_msg=case.name)


# --- what RoPE is for ------------------------------------------------------------------------------------

def test_rope_scores_depend_on_the_position_difference_only(rope_ref):
    rng = np.random.default_rng(7)
    q, k = rng.standard_normal((2, 1, 16))
    for base in (10000.0, 500000.0):
        for m, n in ((3, 11), (40, 2), (0, 0)):
            score = (rope_ref(q, [m], base) @ rope_ref(k, [n], base).T).item()
            for shift in (1, 17, 500):
                shifted = (rope_ref(q, [m + shift], base) @ rope_ref(k, [n + shift], base).T).item()
                assert shifted == pytest.approx(score, rel=1e-10, abs=1e-10)
            assert (q @ rope_ref(k, [n - m], base).T).item() == pytest.approx(score, rel=1e-10, abs=1e-10)  # q.R_(n-m)k
        assert (rope_ref(q, [3], base) @ rope_ref(k, [11], base).T).item() != pytest.approx(
            (rope_ref(q, [11], base) @ rope_ref(k, [3], base).T).item(), rel=1e-3)  # n - m has a sign


def test_rope_is_a_rotation_and_the_identity_at_zero(rope_ref):
    x = np.random.default_rng(3).standard_normal((2, 3, 5, 8))
    np.testing.assert_array_equal(rope_ref(x, np.zeros(5, int), 10000.0), x)
    y = rope_ref(x, np.arange(5) * 37, 10000.0)
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-13)
    np.testing.assert_allclose(rope_ref(y, -np.arange(5) * 37, 10000.0), x, atol=1e-13)  # R_-m undoes R_m


def test_kv_cache_continuation_equals_the_tail_of_the_full_causal_pass(mha_ref):
    rng = np.random.default_rng(11)
    B, P, T, D, H = 2, 5, 8, 12, 3
    x = rng.standard_normal((B, T, D))
    params = inputs.mha_params(rng, D)
    full = mha_ref(x, x, x, params, H, np.arange(T), np.arange(T), 10000.0, inputs.causal_mask(T))
    tail = mha_ref(x[:, P:], x, x, params, H, np.arange(P, T), np.arange(T), 10000.0,
                   np.tril(np.ones((T - P, T), dtype=bool), P))
    np.testing.assert_allclose(tail, full[:, P:], rtol=1e-12, atol=1e-12)


def test_shifting_every_position_changes_nothing_and_v_is_not_rotated(mha_ref):
    for case in get_exercise("mha_rope_forward").checks().make_cases(0):
        args = dict(case.args)
        out = mha_ref(*args.values())
        shifted = {**args, "q_positions": args["q_positions"] + 1000, "k_positions": args["k_positions"] + 1000}
        np.testing.assert_allclose(mha_ref(*shifted.values()), out, rtol=1e-9, atol=1e-9, err_msg=case.name)
    # One key: its weight is 1 whatever the rotation, so the output is the projected value, at any position.
    rng = np.random.default_rng(5)
    q, kv = rng.standard_normal((2, 3, 8)), rng.standard_normal((2, 1, 8))
    params = inputs.mha_params(rng, 8)
    expected = (kv @ params["W_v"] + params["b_v"]) @ params["W_o"] + params["b_o"]
    for position in (0, 9, 250):
        out = mha_ref(q, kv, kv, params, 2, np.arange(3), np.array([position]), 10000.0)
        np.testing.assert_allclose(out, np.broadcast_to(expected, out.shape), rtol=1e-12, atol=1e-12)


def test_one_head_hides_rope_before_the_split_but_the_cases_use_more(mha_ref):
    checks = get_exercise("mha_rope_forward").checks()
    before = mutated_reference(get_exercise("mha_rope_forward"),
                               next(m for m in checks.MUTANTS if m.id == "rope_before_split")).mha_rope_forward
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 8))
    args = (x, x, x, inputs.mha_params(rng, 8), 1, np.arange(4), np.arange(4), 10000.0)
    np.testing.assert_allclose(before(*args), mha_ref(*args), rtol=1e-12, atol=1e-12)  # H = 1: the same vector
    assert all(case.args["num_heads"] >= 2 for case in checks.make_cases(0))
