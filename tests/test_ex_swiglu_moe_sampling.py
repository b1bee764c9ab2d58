"""The exercises next to attention: swiglu_ffn, swiglu_ffn_backward, moe_forward, sampling.

For each: the folder is complete and bilingual, the reference passes its own checks through the real grader,
the untouched stub is not implemented, detection picks the right exercise, independent correct submissions
written otherwise (loops, other sorts and tie handling that are still right) pass through the API and the CLI
at several seeds, and every declared mistake, written as a buggy submission one edit away from the reference,
fails and is named. The references agree with independent oracles: PyTorch (F.silu, autograd) for SwiGLU, a
plain-Python restatement of the papers' definitions for the MoE layer (and torch.topk), and a brute-force
enumeration in exact rational arithmetic for sampling. Then the properties the cases stand on: pre-activations
past exp's range, exact ties and drops where the cases say, cumulative values hit exactly, draws clear of every
other boundary, and no float32 run of the reference that would move a token (so a wrong token is never called
a precision slip).
"""

import json
import math
from fractions import Fraction

import numpy as np
import pytest
from typer.testing import CliRunner

from mhaquiz.cli import app
from mhaquiz.grader import exercises as registry
from mhaquiz.grader import grade as grading
from mhaquiz.grader.verdict import Verdict
from tests.helpers import reference_source, with_edits, write

ORDERS = {"swiglu_ffn": 136, "swiglu_ffn_backward": 137, "sampling": 145, "moe_forward": 165}
FUNCTIONS = {"swiglu_ffn": ("swiglu_ffn",), "swiglu_ffn_backward": ("swiglu_ffn_backward",),
             "moe_forward": ("moe_forward",), "sampling": ("sample",)}
ENGLISH = {"LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": "", "LANG": "en_US.UTF-8"}


def grade_file(path, **options):
    """The real grader, with a wall clock generous enough for a loaded machine (these tests judge answers, not speed)."""
    return grading.grade_file(path, timeout=30.0, **options)


def exercise(exercise_id):
    return registry.get_exercise(exercise_id)


def reference(exercise_id):
    return exercise(exercise_id).reference()


def cases(exercise_id, seed=0):
    return exercise(exercise_id).checks().make_cases(seed)


def run(exercise_id, case, module=None):
    """The outputs as the grader compares them (through the case's driver, when it has one)."""
    from mhaquiz.grader.spec import named_outputs

    return named_outputs(case.run(module or reference(exercise_id), case.args), case.output_names)


# --- the folders -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("exercise_id", sorted(ORDERS))
def test_folder_is_complete_bilingual_and_in_learning_order(exercise_id):
    ex = exercise(exercise_id)
    assert ex.meta["order"] == ORDERS[exercise_id]
    assert ex.functions == FUNCTIONS[exercise_id]
    assert ex.title.zh and ex.title.en and ex.title.zh != ex.title.en
    hints = ex.meta["hints"]
    assert len(hints) >= 3 and all(hint["zh"] and hint["en"] and hint["zh"] != hint["en"] for hint in hints)
    for lang in ("zh", "en"):
        prompt = ex.prompt(lang)
        assert prompt.startswith("# ") and FUNCTIONS[exercise_id][0] in prompt
    assert "【中文】" in ex.stub_path.read_text(encoding="utf-8") and "[English]" in ex.stub_path.read_text(encoding="utf-8")
    for case in ex.checks().make_cases(0):
        assert case.about.zh != case.about.en and case.title.zh and case.title.en


def test_they_sit_after_rope_and_the_norms_in_the_curriculum():
    order = [ex.id for ex in registry.curriculum()]
    for exercise_id in ORDERS:
        assert order.index(exercise_id) > order.index("mha_rope_forward") > order.index("rms_norm_backward")
    assert order.index("swiglu_ffn") < order.index("swiglu_ffn_backward") < order.index("moe_forward")


def test_chinese_texts_use_full_width_punctuation_without_stray_spaces():
    for exercise_id in ORDERS:
        ex = exercise(exercise_id)
        texts = [ex.prompt("zh"), ex.title.zh] + [hint["zh"] for hint in ex.meta["hints"]]
        texts += [case.about.zh for case in ex.checks().make_cases(0)]
        texts += [mutant.title.zh for mutant in ex.checks().MUTANTS]
        for text in texts:
            assert " （" not in text and "： " not in text and "， " not in text and "。 " not in text, text


# --- the real grader: references, stubs, detection ---------------------------------------------------------------

@pytest.mark.parametrize("exercise_id", sorted(ORDERS))
def test_reference_passes_every_case_through_the_grader(tmp_path, exercise_id):
    report = grade_file(write(tmp_path, f"{exercise_id}.py", reference_source(exercise_id)), exercise_ids=[exercise_id])
    assert report.verdict == Verdict.PASSED, report.detail
    result = report.exercises[0]
    assert [case.name for case in result.cases] == [case.name for case in cases(exercise_id)]
    assert result.efficiency is not None and result.efficiency.submission_seconds > 0


@pytest.mark.parametrize("exercise_id", sorted(ORDERS))
def test_untouched_stub_is_not_implemented(exercise_id):
    report = grade_file(exercise(exercise_id).stub_path, exercise_ids=[exercise_id])
    assert report.verdict == Verdict.NOT_IMPLEMENTED, report.detail
    assert all(case.error["type"] == "NotImplementedError" for case in report.exercises[0].cases)


def test_backward_file_with_the_forward_as_a_helper_is_the_backward(tmp_path):
    source = reference_source("swiglu_ffn_backward") + "\n\n" + reference_source("swiglu_ffn").split("import numpy as np", 1)[1]
    report = grade_file(write(tmp_path, "mine.py", source))
    assert [e.id for e in report.exercises] == ["swiglu_ffn_backward"]
    assert report.verdict == Verdict.PASSED, report.detail


def test_moe_file_with_swiglu_ffn_as_a_helper_is_the_moe_layer(tmp_path):
    source = reference_source("moe_forward") + "\n\ndef swiglu_ffn(x, W1, W2, W3):\n    return (silu(x @ W1) * (x @ W3)) @ W2\n"
    report = grade_file(write(tmp_path, "mine.py", source))
    assert [e.id for e in report.exercises] == ["moe_forward"]
    assert report.verdict == Verdict.PASSED, report.detail


def test_a_file_defining_sample_is_the_sampling_exercise(tmp_path):
    report = grade_file(write(tmp_path, "decode.py", reference_source("sampling")))
    assert [e.id for e in report.exercises] == ["sampling"]


# --- independent correct submissions ------------------------------------------------------------------------------

ALTERNATIVES = {
    # One token at a time; sigmoid(z) = (1 + tanh(z/2)) / 2, which cannot overflow either.
    "swiglu_ffn": '''
import numpy as np


def swiglu_ffn(x, W1, W2, W3):
    rows = []
    for token in np.reshape(x, (-1, W1.shape[0])):
        a = token @ W1
        rows.append((a * 0.5 * (1.0 + np.tanh(0.5 * a)) * (token @ W3)) @ W2)
    return np.array(rows).reshape(np.shape(x)[:-1] + (W2.shape[1],))
''',
    # Tokens flattened, einsum for the weights, sigmoid through logaddexp.
    "swiglu_ffn_backward": '''
import numpy as np


def swiglu_ffn_backward(d_out, x, W1, W2, W3):
    D = W1.shape[0]
    X, G = x.reshape(-1, D), d_out.reshape(-1, D)
    a, b = X @ W1, X @ W3
    s = np.exp(-np.logaddexp(0.0, -a))
    g = a * s
    dh = G @ W2.T
    da = dh * b * (s + g * (1.0 - s))
    db = dh * g
    return {"x": (da @ W1.T + db @ W3.T).reshape(x.shape), "W1": np.einsum("nd,nf->df", X, da),
            "W2": np.einsum("nf,nd->fd", g * b, G), "W3": np.einsum("nd,nf->df", X, db)}
''',
    # Mixtral's way: a loop over the experts gathering their tokens; lexsort for the ranking; the gates as a softmax
    # of the chosen logits; capacity counted token by token with a counter per expert; the loss as a Python float; ids as int32.
    "moe_forward": '''
import math

import numpy as np


def moe_forward(x, W_g, W1, W2, W3, top_k, capacity_factor, alpha):
    T, D = x.shape
    E = W_g.shape[1]
    logits = x @ W_g
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    ids = np.empty((T, top_k), dtype=np.int32)
    for t in range(T):
        ids[t] = np.lexsort((np.arange(E), -probs[t]))[:top_k]
    chosen = np.take_along_axis(logits, ids.astype(np.int64), axis=1)  # the gates as Mixtral's paper writes them:
    gates = np.exp(chosen - chosen.max(axis=1, keepdims=True))  # Softmax(TopK(x W_g)), a softmax over the
    gates /= gates.sum(axis=1, keepdims=True)  # chosen logits (the same as renormalising the probabilities)
    capacity = None if capacity_factor is None else math.floor(capacity_factor * T * top_k / E)
    used, kept = [0] * E, np.zeros((T, top_k), dtype=bool)
    for t in range(T):
        for j in range(top_k):
            if capacity is None or used[ids[t, j]] < capacity:
                used[ids[t, j]] += 1
                kept[t, j] = True
    y = np.zeros((T, D))
    for e in range(E):
        rows, slots = np.nonzero((ids == e) & kept)
        if rows.size:
            a = x[rows] @ W1[e]
            h = a / (1.0 + np.exp(-np.clip(a, -500, 500))) * (x[rows] @ W3[e])
            y[rows] += gates[rows, slots][:, None] * (h @ W2[e])
    f = np.bincount(ids.ravel(), minlength=E) / (T * top_k)
    return {"y": y, "aux_loss": float(alpha * E * np.dot(f, probs.mean(axis=0))), "expert_ids": ids, "gates": gates}
''',
    # Row by row: Python's sorted with a (-p, id) key, searchsorted on both sides.
    "sampling": '''
import numpy as np


def sample(logits, u, temperature, top_k=None, top_p=None):
    N, V = logits.shape
    tokens, out = np.zeros(N, dtype=np.int64), np.zeros((N, V))
    for n in range(N):
        z = logits[n] / temperature
        p = np.exp(z - z.max())
        p = p / p.sum()
        ranked = sorted(range(V), key=lambda i: (-p[i], i))
        q = p[ranked]
        if top_k is not None:
            q[top_k:] = 0.0
            q = q / q.sum()
        if top_p is not None:
            q[int(np.searchsorted(np.cumsum(q), top_p, side="left")) + 1:] = 0.0
        q = q / q.sum()
        rank = min(int(np.searchsorted(np.cumsum(q), u[n], side="right")), int(np.count_nonzero(q)) - 1)
        tokens[n] = ranked[rank]
        out[n, ranked] = q
    return {"tokens": tokens, "probs": out}
''',
}

# Vectorised otherwise: ranked by the scaled logits with lexsort (the same order as the probabilities), the
# softmax taken after sorting, top-p by an exclusive cumulative sum, the draw by argmax.
SAMPLING_LEXSORT = '''
import numpy as np


def sample(logits, u, temperature, top_k=None, top_p=None):
    N, V = logits.shape
    scaled = logits / temperature
    order = np.lexsort((np.broadcast_to(np.arange(V), (N, V)), -scaled), axis=-1)
    s = np.take_along_axis(scaled, order, axis=-1)
    p = np.exp(s - s[:, :1])
    p /= p.sum(axis=1, keepdims=True)
    if top_k is not None:
        p[:, top_k:] = 0.0
        p /= p.sum(axis=1, keepdims=True)
    if top_p is not None:
        p = np.where(np.cumsum(p, axis=1) - p < top_p, p, 0.0)
    p /= p.sum(axis=1, keepdims=True)
    above = np.cumsum(p, axis=1) > u[:, None]
    rank = np.where(above.any(axis=1), above.argmax(axis=1), (p > 0).sum(axis=1) - 1)
    probs = np.zeros_like(p)
    probs[np.arange(N)[:, None], order] = p
    return {"tokens": order[np.arange(N), rank], "probs": probs}
'''

SUBMISSIONS = [(exercise_id, source) for exercise_id, source in ALTERNATIVES.items()] + [("sampling", SAMPLING_LEXSORT)]


@pytest.mark.parametrize("seed", [0, 3, 11])
@pytest.mark.parametrize("index", range(len(SUBMISSIONS)))
def test_independent_correct_submissions_pass_at_several_seeds(tmp_path, index, seed):
    exercise_id, source = SUBMISSIONS[index]
    report = grade_file(write(tmp_path, "mine.py", source), exercise_ids=[exercise_id], seed=seed)
    assert report.verdict == Verdict.PASSED, (report.detail, [(c.name, [o.to_dict() for o in c.outputs if not o.passed])
                                                              for c in report.exercises[0].cases if not c.passed])


@pytest.mark.parametrize("index, seed", [(0, 5), (1, 6), (2, 7), (3, 8), (4, 9)])
def test_independent_correct_submissions_pass_through_the_cli(tmp_path, index, seed):
    exercise_id, source = SUBMISSIONS[index]
    path = write(tmp_path, "mine.py", source)
    result = CliRunner().invoke(app, ["grade", str(path), "-e", exercise_id, "--seed", str(seed), "--timeout", "30", "--json"], env=ENGLISH)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["passed"] is True and document["verdict"] == "passed" and document["seed"] == seed


def test_a_wrong_submission_exits_1_through_the_cli_naming_its_mistake(tmp_path):
    source = with_edits(reference_source("sampling"), *BUGS["sampling"]["ties_to_higher_id"])
    result = CliRunner().invoke(app, ["grade", str(write(tmp_path, "mine.py", source)), "--timeout", "30", "--json"], env=ENGLISH)
    assert result.exit_code == 1
    document = json.loads(result.output)
    assert document["verdict"] == "wrong_answer"
    assert document["exercises"][0]["diagnosis"][0]["mistake"] == "ties_to_higher_id"


# --- every declared mistake as a buggy submission ------------------------------------------------------------------

GELU = "0.5 * z * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (z + 0.044715 * z ** 3)))"
GELU_GRAD = ("0.5 * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (a + 0.044715 * a ** 3))) + 0.5 * a * (1.0 - np.tanh("
             "np.sqrt(2.0 / np.pi) * (a + 0.044715 * a ** 3)) ** 2) * np.sqrt(2.0 / np.pi) * (1.0 + 3 * 0.044715 * a ** 2)")
STABLE = "return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))"
SILU_GRAD = "return s * (1.0 + a * (1.0 - s))"
BACKWARD_RETURN = ('return {"x": input_grad(da, db, W1, W3), "W1": weight_grad(x, da), "W2": weight_grad(h, d_out),\n'
                   '            "W3": weight_grad(x, db)}')
WEIGHT_GRAD = "return x.reshape(-1, x.shape[-1]).T @ d.reshape(-1, d.shape[-1])"
ROUTE = 'ids = np.argsort(-probs, axis=-1, kind="stable")[:, :k]'
COUNT = "f = np.bincount(expert_ids.reshape(-1), minlength=E) / expert_ids.size"
SAMPLE_RETURN = 'return {"tokens": to_token_ids(order, inverse_cdf(sorted_q, u)), "probs": unsort(sorted_q, order)}'
TEMPERATURE = "return softmax(logits / temperature)  # (N, V)"
RANKING = 'return np.argsort(-probs, axis=-1, kind="stable")  # (N, V)'

BUGS = {
    "swiglu_ffn": {
        "gelu_instead_of_silu": [("return z * sigmoid(z)", f"return {GELU}")],
        "relu_instead_of_silu": [("return z * sigmoid(z)", "return np.maximum(z, 0.0)")],
        "sigmoid_instead_of_silu": [("return z * sigmoid(z)", "return sigmoid(z)")],
        "sigmoid_overflow": [(STABLE, "return np.exp(z) / (1.0 + np.exp(z))")],
        "gate_and_up_swapped": [("silu(x @ W1)", "silu(x @ W3)"), ("up = x @ W3", "up = x @ W1")],
        "up_projection_missing": [("return (gate * up) @ W2", "return gate @ W2")],
        "silu_after_product": [("gate = silu(x @ W1)", "gate = x @ W1"), ("return (gate * up) @ W2", "return silu(gate * up) @ W2")],
        "weights_transposed": [("silu(x @ W1)", "silu(x @ W1.T)"), ("up = x @ W3", "up = x @ W3.T"),
                               ("return (gate * up) @ W2", "return (gate * up) @ W2.T")],
    },
    "swiglu_ffn_backward": {
        "silu_grad_sigmoid_only": [(SILU_GRAD, "return s")],
        "silu_grad_is_sigmoid_grad": [(SILU_GRAD, "return s * (1.0 - s)")],
        "dx_gate_path_only": [("return da @ W1.T + db @ W3.T", "return da @ W1.T")],
        "weight_grads_transposed": [(WEIGHT_GRAD, "return d.reshape(-1, d.shape[-1]).T @ x.reshape(-1, x.shape[-1])")],
        "weight_grads_summed_over_axis_0": [(WEIGHT_GRAD, "return (x.swapaxes(-1, -2) @ d).sum(axis=0)")],
        "weight_grads_averaged": [(WEIGHT_GRAD, WEIGHT_GRAD + " / x.reshape(-1, x.shape[-1]).shape[0]")],
        "gelu_instead_of_silu": [("return z * sigmoid(z)", f"return {GELU}"), (SILU_GRAD, f"return {GELU_GRAD}")],
        "relu_instead_of_silu": [("return z * sigmoid(z)", "return np.maximum(z, 0.0)"),
                                 (SILU_GRAD, "return (a > 0).astype(float)")],
        "sigmoid_overflow": [(STABLE, "return np.exp(z) / (1.0 + np.exp(z))")],
        "gate_and_up_swapped": [("a = x @ W1", "a = x @ W3"), ("b = x @ W3", "b = x @ W1"),
                                (BACKWARD_RETURN, BACKWARD_RETURN.replace("W1, W3)", "W3, W1)")
                                 .replace("(x, da)", "(x, @@)").replace("(x, db)", "(x, da)").replace("@@", "db"))],
    },
    "moe_forward": {
        "gates_not_renormalised": [("return top_probs / top_probs.sum(axis=-1, keepdims=True)", "return top_probs")],
        "softmax_over_tokens": [("return softmax(x @ W_g, axis=-1)", "return softmax(x @ W_g, axis=0)")],
        "topk_smallest": [(ROUTE, "ids = np.argsort(probs, axis=-1)[:, :k]")],
        "ties_to_higher_index": [(ROUTE, 'ids = np.argsort(probs, axis=-1, kind="stable")[:, ::-1][:, :k]')],
        "router_softmax_overflow": [("e = np.exp(z - z.max(axis=axis, keepdims=True))", "e = np.exp(z)")],
        "capacity_not_enforced": [("int(np.floor(capacity_factor * T * k / E))", "T")],
        "capacity_without_k": [("capacity_factor * T * k / E", "capacity_factor * T / E")],
        "capacity_counted_over_all_experts": [("np.cumsum(chosen, axis=0)[np.arange(flat.size), flat] - 1",
                                               "np.arange(flat.size)")],
        "gates_renormalised_after_drop": [("weights = combine_weights(expert_ids, gates, kept, E)",
                                           "weights = combine_weights(expert_ids, gates * kept / np.maximum((gates * kept)"
                                           ".sum(-1, keepdims=True), 1e-300), kept, E)")],
        "outputs_not_gated": [("expert_ids, gates * kept, axis=-1)", "expert_ids, 1.0 * kept, axis=-1)")],
        "aux_f_from_probabilities": [(COUNT, "f = probs.mean(axis=0)")],
        "aux_missing_num_experts": [("return alpha * E * np.sum(f * P)", "return alpha * np.sum(f * P)")],
        "aux_f_top1_only": [(COUNT, "f = np.bincount(expert_ids[:, 0], minlength=E) / expert_ids.shape[0]")],
        "aux_f_divided_by_tokens": [(COUNT, "f = np.bincount(expert_ids.reshape(-1), minlength=E) / expert_ids.shape[0]")],
    },
    "sampling": {
        "temperature_power_after_softmax": [(TEMPERATURE, "return softmax(logits) ** (1.0 / temperature)")],
        "temperature_divides_probabilities": [(TEMPERATURE, "return softmax(logits) / temperature")],
        "temperature_multiplies_logits": [(TEMPERATURE, "return softmax(logits * temperature)")],
        "temperature_ignored": [(TEMPERATURE, "return softmax(logits)")],
        "softmax_overflow": [("e = np.exp(z - z.max(axis=-1, keepdims=True))", "e = np.exp(z)")],
        "sorted_ascending": [(RANKING, 'return np.argsort(probs, axis=-1, kind="stable")')],
        "ties_to_higher_id": [(RANKING, 'return np.argsort(probs, axis=-1, kind="stable")[:, ::-1]')],
        "not_mapped_back": [(SAMPLE_RETURN, 'return {"tokens": inverse_cdf(sorted_q, u), "probs": sorted_q}')],
        "top_k_keeps_one_more": [("return np.arange(sorted_probs.shape[-1]) < k", "return np.arange(sorted_probs.shape[-1]) <= k")],
        "top_k_keeps_one_fewer": [("return np.arange(sorted_probs.shape[-1]) < k", "return np.arange(sorted_probs.shape[-1]) < k - 1")],
        "top_p_strict": [("before < p", "before <= p")],
        "top_p_drops_crossing_token": [("before = np.cumsum(sorted_probs, axis=-1)[:, :-1]",
                                        "return np.cumsum(sorted_probs, axis=-1) <= p")],
        "no_renormalisation": [("return q / q.sum(axis=-1, keepdims=True)", "return q")],
        "top_p_before_top_k": [("        sorted_probs = renormalise(sorted_probs, keep)\n", "")],
        "draw_non_strict": [("(cdf <= u[:, None])", "(cdf < u[:, None])")],
        "drawn_in_vocabulary_order": [(SAMPLE_RETURN, 'probs = unsort(sorted_q, order)\n'
                                       '    return {"tokens": (np.cumsum(probs, axis=-1) <= u[:, None]).sum(axis=-1), "probs": probs}')],
    },
}
# Mistakes that cannot take some of the shapes graded, so a case raises (the others still name the mistake).
RAISES = {("swiglu_ffn", "weights_transposed"), ("swiglu_ffn_backward", "weight_grads_summed_over_axis_0")}


@pytest.mark.parametrize("exercise_id", sorted(ORDERS))
def test_every_declared_mutant_has_a_buggy_submission(exercise_id):
    assert [mutant.id for mutant in exercise(exercise_id).checks().MUTANTS] == list(BUGS[exercise_id])


@pytest.mark.parametrize("exercise_id, mistake", [(e, m) for e in sorted(BUGS) for m in BUGS[e]])
def test_each_classic_mistake_is_named(tmp_path, exercise_id, mistake):
    source = with_edits(reference_source(exercise_id), *BUGS[exercise_id][mistake])
    report = grade_file(write(tmp_path, "mine.py", source), exercise_ids=[exercise_id])
    expected = Verdict.RUNTIME_ERROR if (exercise_id, mistake) in RAISES else Verdict.WRONG_ANSWER
    assert report.verdict == expected, report.detail
    assert [d.mistake for d in report.exercises[0].diagnosis][:1] == [mistake]


# --- SwiGLU against PyTorch ---------------------------------------------------------------------------------------

def test_swiglu_forward_and_backward_agree_with_torch_silu_and_autograd():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    forward, backward = reference("swiglu_ffn").swiglu_ffn, reference("swiglu_ffn_backward").swiglu_ffn_backward
    checked = 0
    for seed in (0, 1):
        for case in cases("swiglu_ffn_backward", seed):
            d_out, x, W1, W2, W3 = (case.args[name] for name in ("d_out", "x", "W1", "W2", "W3"))
            tx, t1, t2, t3 = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, W1, W2, W3))
            # nn.Linear's layout: weight = W.T, computing x @ weight.T
            y = F.linear(F.silu(F.linear(tx, t1.T)) * F.linear(tx, t3.T), t2.T)
            y.backward(torch.tensor(d_out))
            np.testing.assert_allclose(forward(x, W1, W2, W3), y.detach().numpy(), rtol=1e-12, atol=1e-12 * np.abs(y.detach().numpy()).max())
            grads = backward(d_out, x, W1, W2, W3)
            for name, tensor in zip(("x", "W1", "W2", "W3"), (tx, t1, t2, t3)):
                expected = tensor.grad.numpy()
                np.testing.assert_allclose(grads[name], expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max(),
                                           err_msg=f"{case.name}: d{name}")
            checked += 1
    assert checked == 2 * len(cases("swiglu_ffn_backward"))


def test_swiglu_forward_cases_agree_with_torch():
    torch = pytest.importorskip("torch")
    forward = reference("swiglu_ffn").swiglu_ffn
    for case in cases("swiglu_ffn", 2):
        x, W1, W2, W3 = (torch.tensor(a) for a in case.args.values())
        expected = ((torch.nn.functional.silu(x @ W1) * (x @ W3)) @ W2).numpy()
        np.testing.assert_allclose(forward(*case.args.values()), expected, rtol=1e-12, atol=1e-13 * np.abs(expected).max())


# --- SwiGLU: the cases and the gradient check ---------------------------------------------------------------------

@pytest.mark.parametrize("exercise_id", ["swiglu_ffn", "swiglu_ffn_backward"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_large_case_goes_past_exps_range_both_ways_and_the_reference_stays_quiet(exercise_id, seed):
    case = next(case for case in cases(exercise_id, seed) if case.name == "large activations")
    a = case.args["x"] @ case.args["W1"]
    assert a.max() > 709 and a.min() < -709
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        outputs = run(exercise_id, case)
    assert all(np.isfinite(value).all() for value in outputs.values())
    with np.errstate(over="ignore", invalid="ignore"):
        naive = case.args["x"] @ case.args["W1"]
        assert np.isnan(np.exp(naive) / (1 + np.exp(naive))).any()  # what the overflowing sigmoid meets


def test_swiglu_cases_cover_every_rank_and_a_square_case():
    for exercise_id in ("swiglu_ffn", "swiglu_ffn_backward"):
        ranks = {case.args["x"].ndim for case in cases(exercise_id)}
        assert ranks == {1, 2, 3, 4}
        assert any(case.args["W1"].shape[0] == case.args["W1"].shape[1] for case in cases(exercise_id))
        assert all(case.args["W1"].shape[0] != case.args["W1"].shape[1]
                   for case in cases(exercise_id) if case.name != "square, F = D")


def test_swiglu_gradcheck_accepts_the_reference_and_rejects_a_wrong_gradient():
    checks = exercise("swiglu_ffn_backward").checks()
    fd_cases = [case for case in cases("swiglu_ffn_backward") if case.gradcheck]
    assert len(fd_cases) == 5
    for case in fd_cases:
        grads = reference("swiglu_ffn_backward").swiglu_ffn_backward(*case.args.values())
        assert all(check.passed for check in checks.gradcheck(case, grads)), case.name
        for name in ("x", "W1", "W2", "W3"):
            wrong = dict(grads, **{name: grads[name] * 1.01})
            problems = {check.name: check.problem for check in checks.gradcheck(case, wrong)}
            assert problems == {f"fd:{n}": ("finite_differences" if n == name else None) for n in ("x", "W1", "W2", "W3")}


# --- MoE against a restatement of the definitions -----------------------------------------------------------------

def moe_by_definition(x, W_g, W1, W2, W3, k, capacity_factor, alpha):
    """Switch Transformer / Mixtral written out with Python floats and loops, token by token."""
    T, D = x.shape
    E, _, F = W1.shape
    probs = []
    for t in range(T):
        logits = [sum(float(x[t, d]) * float(W_g[d, e]) for d in range(D)) for e in range(E)]
        top = max(logits)
        weights = [math.exp(value - top) for value in logits]
        probs.append([w / sum(weights) for w in weights])
    chosen = [sorted(range(E), key=lambda e: (-probs[t][e], e))[:k] for t in range(T)]
    gates = [[probs[t][e] / sum(probs[t][c] for c in chosen[t]) for e in chosen[t]] for t in range(T)]
    capacity = T * k if capacity_factor is None else math.floor(capacity_factor * T * k / E)
    load, y = [0] * E, [[0.0] * D for _ in range(T)]

    def expert(e, token):
        a = [sum(token[d] * W1[e, d, f] for d in range(D)) for f in range(F)]
        b = [sum(token[d] * W3[e, d, f] for d in range(D)) for f in range(F)]
        h = [a[f] / (1.0 + math.exp(-a[f])) * b[f] for f in range(F)]
        return [sum(h[f] * W2[e, f, d] for f in range(F)) for d in range(D)]

    for t in range(T):  # slots taken in token order
        for j, e in enumerate(chosen[t]):
            if load[e] < capacity:
                load[e] += 1
                out = expert(e, [float(v) for v in x[t]])
                y[t] = [y[t][d] + gates[t][j] * out[d] for d in range(D)]
    f = [sum(row.count(i) for row in chosen) / (T * k) for i in range(E)]
    P = [sum(probs[t][i] for t in range(T)) / T for i in range(E)]
    return {"y": np.array(y), "aux_loss": alpha * E * sum(fi * pi for fi, pi in zip(f, P)),
            "expert_ids": np.array(chosen), "gates": np.array(gates)}


@pytest.mark.parametrize("seed", [0, 4])
def test_moe_reference_agrees_with_the_definition_written_as_loops(seed):
    moe = reference("moe_forward").moe_forward
    for case in cases("moe_forward", seed):
        got = moe(*case.args.values())
        expected = moe_by_definition(*case.args.values())
        np.testing.assert_array_equal(got["expert_ids"], expected["expert_ids"], err_msg=case.name)
        np.testing.assert_allclose(got["gates"], expected["gates"], rtol=1e-12, atol=1e-15, err_msg=case.name)
        np.testing.assert_allclose(got["y"], expected["y"], rtol=1e-10, atol=1e-12, err_msg=case.name)
        np.testing.assert_allclose(got["aux_loss"], expected["aux_loss"], rtol=1e-12, err_msg=case.name)


def test_moe_routing_agrees_with_torch_topk_where_there_are_no_ties():
    torch = pytest.importorskip("torch")
    r = reference("moe_forward")
    for case in cases("moe_forward", 1):
        if case.name == "exact ties":
            continue
        probs = torch.softmax(torch.tensor(case.args["x"] @ case.args["W_g"]), dim=-1)
        values, indices = torch.topk(probs, case.args["top_k"], dim=-1)
        got = r.moe_forward(*case.args.values())
        np.testing.assert_array_equal(got["expert_ids"], indices.numpy(), err_msg=case.name)
        np.testing.assert_allclose(got["gates"], (values / values.sum(-1, keepdim=True)).numpy(), rtol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_moe_cases_hold_what_they_promise(seed):
    r = reference("moe_forward")
    by_name = {case.name: case for case in cases("moe_forward", seed)}

    ties = by_name["exact ties"].args
    probs = r.router_probs(ties["x"], ties["W_g"])
    assert (probs[:, 1] == probs[:, 3]).all()
    ids = r.moe_forward(*ties.values())["expert_ids"]
    assert ((ids == 1).any(axis=1) & ~(ids == 3).any(axis=1)).any()  # the tie cut at the top-k boundary
    assert ((ids[:, 0] == 1) & (ids[:, 1] == 3)).any()  # both chosen, the lower index first

    for name, capacity in (("capacity drops", 4), ("tight capacity", 2)):
        args = by_name[name].args
        T, E, k = args["x"].shape[0], args["W_g"].shape[1], args["top_k"]
        assert r.capacity(args["capacity_factor"], T, k, E) == capacity
        ids = r.moe_forward(*args.values())["expert_ids"]
        kept = r.kept_assignments(ids, E, capacity)
        assert (~kept).any() and kept.any()
        if name == "tight capacity":
            assert (~kept.any(axis=1)).any()  # a token with every assignment dropped: a zero row
            assert (r.moe_forward(*args.values())["y"][~kept.any(axis=1)] == 0).all()

    large = by_name["large logits"].args
    logits = large["x"] @ large["W_g"]
    assert logits.min() > 709 and np.abs(large["x"]).max() < 10
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        assert np.isfinite(r.moe_forward(*large.values())["y"]).all()


def test_moe_perfectly_balanced_router_gives_alpha_and_the_loss_prefers_balance():
    r = reference("moe_forward")
    E, T = 4, 8
    uniform = np.full((T, E), 1.0 / E)
    ids = np.array([[t % E, (t + 1) % E] for t in range(T)])
    assert r.load_balancing_loss(uniform, ids, 0.01) == pytest.approx(0.01, rel=1e-15)
    skewed = np.tile([0.7, 0.1, 0.1, 0.1], (T, 1))
    assert r.load_balancing_loss(skewed, np.tile([0, 1], (T, 1)), 0.01) > 0.01


# --- sampling against a brute-force enumeration ------------------------------------------------------------------

def sample_by_enumeration(logits, u, temperature, top_k, top_p):
    """Every row by enumeration, with the masses summed exactly (Fractions of the float probabilities)."""
    tokens, dists = [], []
    for row, draw in zip(logits.tolist(), u.tolist()):
        z = [value / temperature for value in row]
        weights = [math.exp(value - max(z)) for value in z]
        probs = [w / sum(weights) for w in weights]
        ranked = sorted(range(len(row)), key=lambda i: (-probs[i], i))
        kept = ranked if top_k is None else ranked[:top_k]
        mass = sum(Fraction(probs[i]) for i in kept)
        dist = {i: Fraction(probs[i]) / mass for i in kept}
        if top_p is not None:  # every prefix, shortest first: the first whose mass reaches top_p
            kept = next(kept[:n] for n in range(1, len(kept) + 1)
                        if sum(dist[i] for i in kept[:n]) >= Fraction(top_p) or n == len(kept))
        mass = sum(dist[i] for i in kept)
        final = {i: dist[i] / mass for i in kept}
        total, token = Fraction(0), None
        for i in kept:  # the first token, in rank order, whose cumulative mass exceeds the draw
            total += final[i]
            if total > Fraction(draw):
                token = i
                break
        tokens.append(token)
        dists.append([float(final.get(i, 0)) for i in range(len(row))])
    return np.array(tokens), np.array(dists)


@pytest.mark.parametrize("seed", [0, 1, 2, 7])
def test_sampling_reference_agrees_with_brute_force_enumeration(seed):
    sample = reference("sampling").sample
    for case in cases("sampling", seed):
        got = sample(*case.args.values())
        tokens, probs = sample_by_enumeration(*case.args.values())
        np.testing.assert_array_equal(got["tokens"], tokens, err_msg=case.name)
        np.testing.assert_allclose(got["probs"], probs, rtol=1e-13, atol=1e-16, err_msg=case.name)


def test_draws_on_a_fine_grid_reproduce_the_final_distribution():
    sample = reference("sampling").sample
    case = cases("sampling")[2]  # top-k then top-p
    M = 20000
    for row in range(case.args["logits"].shape[0]):
        logits = np.repeat(case.args["logits"][row:row + 1], M, axis=0)
        out = sample(logits, (np.arange(M) + 0.5) / M, *list(case.args.values())[2:])
        frequencies = np.bincount(out["tokens"], minlength=logits.shape[1]) / M
        np.testing.assert_allclose(frequencies, out["probs"][0], atol=1.0 / M)


@pytest.mark.parametrize("seed", range(5))
def test_sampling_cases_hold_what_they_promise(seed):
    r = reference("sampling")
    checks = exercise("sampling").checks()
    by_name = {case.name: case for case in cases("sampling", seed)}

    dyadic = by_name["p on a cumulative value"].args
    probs = r.apply_temperature(dyadic["logits"], dyadic["temperature"])
    assert set(np.unique(probs[0])) == {0.0, 0.25} and set(np.unique(probs[1])) == {0.0, 0.125}
    out = r.sample(*dyadic.values())
    assert ((out["probs"] > 0).sum(axis=1) == [2, 4]).all()  # 1/4 + 1/4 and 4 x 1/8 reach 0.5 exactly
    assert list(dyadic["u"]) == [0.5, 0.75]

    tied = by_name["top-k with a tie"].args["logits"][0]
    ranked = np.sort(tied)[::-1]
    assert ranked[4] == ranked[5] and ranked[3] > ranked[4] > ranked[6]
    greedy = by_name["greedy with a tied max"].args["logits"][0]
    assert (greedy == greedy.max()).sum() == 2
    dominant = by_name["one token reaches p"].args
    assert (r.apply_temperature(dominant["logits"], dominant["temperature"]).max(axis=1) > dominant["top_p"]).all()
    large = by_name["large logits"].args
    assert (large["logits"] / large["temperature"]).max() > 709

    for case in by_name.values():  # the draws not placed on purpose stay clear of every cumulative value
        if case.name == "p on a cumulative value":
            continue
        cdf = np.cumsum(checks._final_sorted(*(case.args[k] for k in ("logits", "temperature", "top_k", "top_p"))), axis=-1)
        assert (np.abs(cdf - case.args["u"][:, None]).min(axis=1) >= 1e-3).all(), case.name


def test_a_draw_falling_on_a_cumulative_value_is_moved_clear_of_every_one():
    checks = exercise("sampling").checks()
    logits = np.log(np.array([[0.5, 0.3, 0.2], [0.25, 0.25, 0.5]]))
    cdf = np.cumsum(checks._final_sorted(logits, 1.0, None, None), axis=-1)

    for offset in (0.0, 5e-4, -9e-4):
        class NearTheBoundary:  # a generator whose draws land on, or just beside, the first cumulative value
            @staticmethod
            def uniform(low, high, size):
                return cdf[:size, 0] + offset

        u = checks._clear_draws(NearTheBoundary(), logits, 1.0, None, None)
        assert (np.abs(cdf - u[:, None]).min(axis=1) >= 1e-3).all() and ((0 < u) & (u < 1)).all()


def test_a_draw_past_a_total_rounded_below_1_takes_the_last_token_of_positive_probability():
    sample = reference("sampling").sample
    logits = np.array([[0.0] * 10 + [-1000.0] * 3])  # ten tokens of 0.1: their cumulative sum ends at 1 - 2**-53
    u = np.array([np.nextafter(1.0, 0.0)])
    assert np.cumsum(np.full(10, 0.1))[-1] <= u[0]
    out = sample(logits, u, 1.0)
    assert out["tokens"].tolist() == [9]  # not the filtered token 10, not an index past the end
    assert out["tokens"].tolist() == sample_by_enumeration(logits, u, 1.0, None, None)[0].tolist()


def test_moe_ties_go_to_the_lower_index_on_a_wide_router():
    r = reference("moe_forward")
    probs = np.full((3, 40), 0.01)
    probs[:, [7, 30]] = 0.2  # two winners, and 38 experts tied behind them
    ids, _ = r.select_experts(probs / probs.sum(axis=1, keepdims=True), 4)
    assert ids.tolist() == [[7, 30, 0, 1]] * 3


@pytest.mark.parametrize("exercise_id", ["moe_forward", "sampling"])
@pytest.mark.parametrize("seed", range(4))
def test_a_float32_run_of_the_reference_moves_no_token_so_a_wrong_one_is_never_a_precision_slip(exercise_id, seed):
    from mhaquiz.grader import grade

    plan = grade._plan(exercise(exercise_id), seed)
    name = {"moe_forward": "expert_ids", "sampling": "tokens"}[exercise_id]
    for case, expected in zip(plan.cases, plan.expected):
        assert grade._float32_errors(plan, case, expected)[name] == 0.0, case.name


def test_token_ids_of_any_integer_dtype_are_compared_as_numbers():
    checks = exercise("sampling").checks()
    case = cases("sampling")[0]

    class Int32:
        @staticmethod
        def sample(*args):
            out = reference("sampling").sample(*args)
            return {"tokens": out["tokens"].astype(np.int32), "probs": out["probs"]}

    assert checks.call_sample(Int32, case.args)["tokens"].dtype == np.float64
    with pytest.raises(TypeError, match="must return a dict"):
        checks.call_sample(type("T", (), {"sample": staticmethod(lambda *a: (1, 2))}), case.args)


@pytest.mark.parametrize("exercise_id, function", [("swiglu_ffn", "swiglu_ffn"), ("swiglu_ffn_backward", "swiglu_ffn_backward"),
                                                   ("moe_forward", "moe_forward"), ("sampling", "sample")])
def test_references_do_not_modify_their_inputs(exercise_id, function):
    import copy

    for case in cases(exercise_id):
        before = copy.deepcopy(case.args)
        getattr(reference(exercise_id), function)(*case.args.values())
        for name, value in case.args.items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(value, before[name])


def test_heat_maps_name_their_axes_and_draw_nothing_for_the_single_loss():
    from mhaquiz.grader import heatmap

    moe_checks, sampling_checks = exercise("moe_forward").checks(), exercise("sampling").checks()
    case = cases("moe_forward")[0]
    out = run("moe_forward", case)
    wrong = out["y"].copy()
    wrong[4, 2] += 1.0
    errors, axes, text = moe_checks.error_map(case, "y", wrong, out["y"])
    assert axes == ("axis.position", "axis.feature") and errors.argmax() == 4 * wrong.shape[1] + 2 and text.zh
    loss_view = moe_checks.error_map(case, "aux_loss", out["aux_loss"] + 1.0, out["aux_loss"])
    assert heatmap.make(case, "aux_loss", out["aux_loss"] + 1.0, out["aux_loss"], 1.0, loss_view) is None
    assert moe_checks.error_map(case, "gates", out["gates"][:, :1], out["gates"]) is None  # a wrong shape: no view

    case = cases("sampling")[0]
    out = run("sampling", case)
    drawn = heatmap.make(case, "probs", out["probs"][::-1], out["probs"], 1.0,
                         sampling_checks.error_map(case, "probs", out["probs"][::-1], out["probs"]))
    assert (drawn.rows, drawn.cols) == ("axis.row", "axis.vocab")
    assert sampling_checks.error_map(case, "tokens", out["tokens"] + 1, out["tokens"]) is None


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("exercise_id", sorted(ORDERS))
def test_every_mistake_is_named_alone_at_other_seeds_too(exercise_id, seed):
    """A learner grades with any --seed: each planted mistake is still named, and nothing of it is called a
    float32 slip (the catalogue test checks seed 0)."""
    from mhaquiz.grader import grade
    from tests.helpers import judge_frames, planted_frames

    plan = grade._plan(exercise(exercise_id), seed)
    for mutant in exercise(exercise_id).checks().MUTANTS:
        report = judge_frames([plan], planted_frames(plan, mutant, []))
        assert [d.mistake for d in report.exercises[0].diagnosis] == [mutant.id], mutant.id
