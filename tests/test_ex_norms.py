"""The normalisation exercises: layer_norm, layer_norm_backward, rms_norm, rms_norm_backward.

For each: the folder is complete, the reference passes its own checks through the real grader, the untouched
stub is reported as not implemented, every declared mutant is a one-edit buggy submission that fails with its
mistake named, detection picks the right exercise, and the reference agrees with two independent oracles: a
plain-NumPy restatement written with loops (always runs) and PyTorch (F.layer_norm, F.rms_norm, autograd)
when installed. Then the properties the cases stand on: the large-offset case really defeats the one-pass
variance (checked in exact rational arithmetic), the padding rows, the invariances, the gradient identities.
"""

import ast
import math
from fractions import Fraction

import numpy as np
import pytest

from mhaquiz.grader import exercises as registry
from mhaquiz.grader.grade import grade_file
from mhaquiz.grader.verdict import Verdict
from tests.helpers import reference_source, with_edits, write

NORMS = ("layer_norm", "layer_norm_backward", "rms_norm", "rms_norm_backward")
ORDERS = {"layer_norm": 110, "layer_norm_backward": 115, "rms_norm": 120, "rms_norm_backward": 125}
FORWARDS = ("layer_norm", "rms_norm")

# The reference's lines the buggy submissions edit (shared by the forward and backward references).
LN_VAR = "((x - mean) ** 2).mean(axis=-1, keepdims=True)"
LN_INV_STD = "1.0 / np.sqrt(var + eps)"
MS = "(x * x).mean(axis=-1, keepdims=True)"
RMS_INV = "1.0 / np.sqrt(ms + eps)"
SUM_LEADING = ("a.reshape(-1, a.shape[-1]).sum(axis=0)", "a.sum(axis=0)")

LN_STATISTICS = {
    "unbiased_variance": [(LN_VAR, "np.var(x, axis=-1, ddof=1, keepdims=True)")],
    "eps_outside_sqrt": [(LN_INV_STD, "1.0 / (np.sqrt(var) + eps)")],
}
RMS_STATISTICS = {
    "eps_outside_sqrt": [(RMS_INV, "1.0 / (np.sqrt(ms) + eps)")],
    "variance_instead_of_mean_square": [(MS, "x.var(axis=-1, keepdims=True)")],
    "rms_over_axis_0": [(MS, "(x * x).mean(axis=0, keepdims=True)")],
    "rms_over_all_axes": [(MS, "np.mean(x ** 2, keepdims=True)")],
    "sum_instead_of_mean": [(MS, "np.sum(x ** 2, axis=-1, keepdims=True)")],
}

# Every mutant an exercise declares, as a buggy submission one edit away from its reference.
BUGS = {
    "layer_norm": {
        **LN_STATISTICS,
        "eps_missing": [(LN_INV_STD, "1.0 / np.sqrt(var)")],
        "stats_over_axis_0": [("x.mean(axis=-1, keepdims=True)", "x.mean(axis=0, keepdims=True)"),
                              (LN_VAR, "((x - mean) ** 2).mean(axis=0, keepdims=True)")],
        "stats_over_all_axes": [("x.mean(axis=-1, keepdims=True)", "x.mean()"), (LN_VAR, "x.var()")],
        "one_pass_variance": [(LN_VAR, "(x ** 2).mean(axis=-1, keepdims=True) - mean ** 2")],
        "eps_hardwired": [("return affine(normalize(x, eps), gamma, beta)", "return affine(normalize(x, 1e-5), gamma, beta)")],
        "gamma_ignored": [("return x_hat * gamma + beta", "return x_hat + beta")],
        "beta_ignored": [("return x_hat * gamma + beta", "return x_hat * gamma")],
        "affine_missing": [("return x_hat * gamma + beta", "return x_hat")],
        "gamma_beta_swapped": [("return x_hat * gamma + beta", "return x_hat * beta + gamma")],
    },
    "layer_norm_backward": {
        **LN_STATISTICS,
        "dx_without_gamma": [("return d_out * gamma", "return d_out")],
        "dx_stats_as_constants": [("return r * (g - mean_g - x_hat * mean_gx)", "return r * g")],
        "dx_mean_as_constant": [("r * (g - mean_g - x_hat * mean_gx)", "r * (g - x_hat * mean_gx)")],
        "dx_var_as_constant": [("r * (g - mean_g - x_hat * mean_gx)", "r * (g - mean_g)")],
        "dx_sums_instead_of_means": [("g.mean(axis=-1, keepdims=True)", "g.sum(axis=-1, keepdims=True)"),
                                     ("(g * x_hat).mean(axis=-1,", "(g * x_hat).sum(axis=-1,")],
        "dx_missing_1_over_D": [("r * (g - mean_g - x_hat * mean_gx)",
                                 "r * (g.shape[-1] * g - g.sum(axis=-1, keepdims=True)"
                                 " - x_hat * (g * x_hat).sum(axis=-1, keepdims=True))")],
        "param_grads_summed_over_axis_0": [SUM_LEADING],
    },
    "rms_norm": {
        **RMS_STATISTICS,
        "rms_subtracts_mean": [("x = np.asarray(x, dtype=np.float64)",
                                "x = np.asarray(x, dtype=np.float64)\n    x = x - x.mean(axis=-1, keepdims=True)")],
        "eps_missing": [(RMS_INV, "1.0 / np.sqrt(ms)")],
        "no_sqrt": [(RMS_INV, "1.0 / (ms + eps)")],
        "eps_hardwired": [("return scale(x * inv_rms(mean_square(x), eps), gamma)",
                           "return scale(x * inv_rms(mean_square(x), 1e-6), gamma)")],
        "gamma_ignored": [("return x_hat * gamma", "return x_hat")],
        "gamma_plus_one": [("return x_hat * gamma", "return x_hat * (1 + gamma)")],
    },
    "rms_norm_backward": {
        **RMS_STATISTICS,
        "dx_without_gamma": [("return d_out * gamma", "return d_out")],
        "dx_rms_as_constant": [("return r * (g - x_hat * mean_gx)", "return r * g")],
        "dx_layer_norm_style": [("r * (g - x_hat * mean_gx)", "r * (g - g.mean(axis=-1, keepdims=True) - x_hat * mean_gx)")],
        "dx_sum_instead_of_mean": [("(g * x_hat).mean(axis=-1,", "(g * x_hat).sum(axis=-1,")],
        "dgamma_summed_over_axis_0": [SUM_LEADING],
    },
}

BUG_CASES = [(exercise, mistake) for exercise in NORMS for mistake in BUGS[exercise]]


def grade_source(tmp_path, exercise, source, name=None):
    return grade_file(write(tmp_path, name or f"{exercise}.py", source), exercise_ids=[exercise])


def reference(exercise):
    return registry.get_exercise(exercise).reference()


def cases(exercise, seed=0):
    return registry.get_exercise(exercise).checks().make_cases(seed)


def case_named(exercise, name, seed=0):
    return next(case for case in cases(exercise, seed) if case.name == name)


# --- the exercise folders --------------------------------------------------------------------------------

@pytest.mark.parametrize("exercise", NORMS)
def test_exercise_folder_is_complete(exercise):
    ex = registry.get_exercise(exercise)
    meta = ex.meta
    assert meta["order"] == ORDERS[exercise]
    assert meta.get("building_block", False) is (exercise in FORWARDS)
    assert meta["title"]["zh"] and meta["title"]["en"]
    assert 3 <= len(meta["hints"]) <= 6
    assert all(hint["zh"].strip() and hint["en"].strip() for hint in meta["hints"])
    for lang in ("zh", "en"):
        assert ex.prompt(lang).startswith("# ")
    assert ex.functions == (exercise,)
    assert callable(getattr(ex.reference(), exercise))
    checks = ex.checks()
    assert 5 <= len(checks.make_cases(0)) <= 9
    assert checks.perf_case(0).function == exercise


@pytest.mark.parametrize("exercise", NORMS)
def test_cases_are_seeded(exercise):
    first, again, other = cases(exercise, 0), cases(exercise, 0), cases(exercise, 1)
    for a, b, c in zip(first, again, other):
        np.testing.assert_array_equal(a.args["x"], b.args["x"])
        assert not np.array_equal(a.args["gamma"], c.args["gamma"])


@pytest.mark.parametrize("exercise", NORMS)
def test_reference_passes_every_case(tmp_path, exercise):
    report = grade_source(tmp_path, exercise, reference_source(exercise), "ref.py")
    assert report.verdict == Verdict.PASSED, report.detail
    assert [e.id for e in report.exercises] == [exercise]
    assert all(case.passed for case in report.exercises[0].cases)


@pytest.mark.parametrize("exercise", ("layer_norm_backward", "rms_norm_backward"))
def test_backward_reference_passes_finite_differences(tmp_path, exercise):
    report = grade_source(tmp_path, exercise, reference_source(exercise), "ref.py")
    fd = [check for case in report.exercises[0].cases for check in case.outputs if check.name.startswith("fd:")]
    wrt = ("x", "gamma", "beta") if exercise == "layer_norm_backward" else ("x", "gamma")
    assert len(fd) == len(wrt) * len(cases(exercise)) and all(check.passed for check in fd)


@pytest.mark.parametrize("exercise", NORMS)
def test_untouched_stub_fails_cleanly(exercise):
    stub = registry.get_exercise(exercise).stub_path
    report = grade_file(stub, exercise_ids=[exercise])
    assert report.verdict == Verdict.NOT_IMPLEMENTED, report.detail
    result = report.exercises[0]
    assert result.cases and all(case.error["type"] == "NotImplementedError" for case in result.cases)
    assert result.diagnosis == []


# --- buggy submissions -------------------------------------------------------------------------------------

@pytest.mark.parametrize("exercise", NORMS)
def test_every_declared_mutant_has_a_buggy_submission(exercise):
    declared = {mutant.id for mutant in registry.get_exercise(exercise).checks().MUTANTS}
    assert declared == set(BUGS[exercise])


@pytest.mark.parametrize("exercise, mistake", BUG_CASES)
def test_bug_is_named(tmp_path, exercise, mistake):
    report = grade_source(tmp_path, exercise, with_edits(reference_source(exercise), *BUGS[exercise][mistake]))
    assert report.verdict == Verdict.WRONG_ANSWER, report.detail
    assert report.exercises[0].diagnosis[0].mistake == mistake


def test_one_pass_variance_is_caught_only_by_the_large_offset_case(tmp_path):
    # Written another common way: np.mean(x**2) - np.mean(x)**2, from scratch rather than from the mean.
    source = with_edits(reference_source("layer_norm"),
                        (LN_VAR, "np.mean(x ** 2, axis=-1, keepdims=True) - np.mean(x, axis=-1, keepdims=True) ** 2"))
    report = grade_source(tmp_path, "layer_norm", source)
    assert report.verdict == Verdict.WRONG_ANSWER
    result = report.exercises[0]
    assert [case.name for case in result.cases if not case.passed] == ["large offset"]
    assert result.diagnosis[0].mistake == "one_pass_variance"
    assert result.cases[[c.name for c in result.cases].index("large offset")].outputs[0].problem == "values"
    assert (result.heatmap.case, result.heatmap.rows, result.heatmap.cols) == ("large offset", "axis.row", "axis.feature")


def test_float32_arithmetic_is_a_precision_slip_except_at_the_large_offset(tmp_path):
    source = with_edits(reference_source("layer_norm"), ("x = np.asarray(x, dtype=np.float64)",
                                                         "x = np.asarray(x, dtype=np.float32)"))
    report = grade_source(tmp_path, "layer_norm", source)
    assert report.verdict == Verdict.WRONG_ANSWER
    result = report.exercises[0]
    problems = {case.name: case.outputs[0].problem for case in result.cases}
    assert problems.pop("large offset") == "values"  # float32 cannot even sum these rows
    assert set(problems.values()) == {"precision"}
    assert [d.mistake for d in result.diagnosis] == ["precision"]  # never mistaken for the one-pass variance


def test_eps_missing_gives_nan_on_the_padding_row(tmp_path):
    report = grade_source(tmp_path, "layer_norm", with_edits(reference_source("layer_norm"), *BUGS["layer_norm"]["eps_missing"]))
    padding = next(case for case in report.exercises[0].cases if case.name == "padding row")
    assert padding.outputs[0].problem == "not_finite"


def test_gradients_of_a_constant_mean_fail_finite_differences(tmp_path):
    source = with_edits(reference_source("layer_norm_backward"), *BUGS["layer_norm_backward"]["dx_stats_as_constants"])
    report = grade_source(tmp_path, "layer_norm_backward", source)
    checks = {(case.name, check.name): check for case in report.exercises[0].cases for check in case.outputs}
    assert not checks[("tokens (B, T, D)", "fd:x")].passed and checks[("tokens (B, T, D)", "fd:x")].problem == "finite_differences"
    assert checks[("tokens (B, T, D)", "fd:gamma")].passed and checks[("tokens (B, T, D)", "fd:beta")].passed


@pytest.mark.parametrize("exercise", ("layer_norm_backward", "rms_norm_backward"))
def test_param_gradient_of_the_wrong_shape_is_reported_as_shape(tmp_path, exercise):
    source = with_edits(reference_source(exercise), SUM_LEADING)
    report = grade_source(tmp_path, exercise, source)
    checks = {(case.name, check.name): check for case in report.exercises[0].cases for check in case.outputs}
    assert checks[("tokens (B, T, D)", "gamma")].problem == "shape"
    assert checks[("tokens (B, T, D)", "gamma")].params == {"got": [3, 5], "expected": [5]}
    assert checks[("tokens (B, T, D)", "fd:gamma")].problem == "no_gradient"
    assert checks[("padding row", "gamma")].passed  # one leading axis: sum(axis=0) is right there
    assert checks[("1-D vector", "gamma")].params == {"got": [], "expected": [7]}  # a 0-d sum arrives 0-d
    assert "1-D vector" in report.exercises[0].diagnosis[0].cases  # ... and so matches the mutant there too


def test_backward_missing_a_key_is_reported_missing(tmp_path):
    source = with_edits(reference_source("layer_norm_backward"),
                        (', "beta": sum_leading(d_out)}', "}"))
    report = grade_source(tmp_path, "layer_norm_backward", source)
    assert report.verdict == Verdict.WRONG_ANSWER
    assert report.exercises[0].diagnosis[0].mistake == "missing_outputs"


# --- detection ----------------------------------------------------------------------------------------------

def detected(source):
    return [exercise.id for exercise in registry.detect(registry.defined_names(ast.parse(source)))]


@pytest.mark.parametrize("exercise", NORMS)
def test_references_are_detected_as_themselves(exercise):
    assert detected(reference_source(exercise)) == [exercise]


@pytest.mark.parametrize("backward, forward", [("layer_norm_backward", "layer_norm"), ("rms_norm_backward", "rms_norm")])
def test_a_backward_that_defines_its_forward_too_is_graded_as_the_backward(tmp_path, backward, forward):
    source = reference_source(backward) + "\n\n" + reference_source(forward).split('"""', 2)[2]
    assert detected(source) == [backward]
    report = grade_file(write(tmp_path, "mine.py", source))
    assert [e.id for e in report.exercises] == [backward] and report.verdict == Verdict.PASSED, report.detail


# --- an independent oracle: the definitions restated with loops (always runs) ----------------------------

def _rows(x):
    return x.reshape(-1, x.shape[-1])


def ln_by_loops(x, gamma, beta, eps):
    out = np.empty(_rows(x).shape)
    for i, row in enumerate(_rows(x)):
        D = len(row)
        mu = math.fsum(row) / D
        var = math.fsum((v - mu) ** 2 for v in row) / D
        out[i] = [(v - mu) / math.sqrt(var + eps) * gamma[j] + beta[j] for j, v in enumerate(row)]
    return out.reshape(x.shape)


def rms_by_loops(x, gamma, eps):
    out = np.empty(_rows(x).shape)
    for i, row in enumerate(_rows(x)):
        rms = math.sqrt(math.fsum(v * v for v in row) / len(row) + eps)
        out[i] = [v / rms * gamma[j] for j, v in enumerate(row)]
    return out.reshape(x.shape)


def ln_backward_by_jacobian(d_out, x, gamma, eps):
    """dx from the explicit Jacobian of one row, J[i, j] = d x_hat_i / d x_j, built entry by entry."""
    dx, dgamma, dbeta = np.empty(_rows(x).shape), np.zeros(x.shape[-1]), np.zeros(x.shape[-1])
    for n, (row, up) in enumerate(zip(_rows(x), _rows(d_out))):
        D = len(row)
        mu = sum(row) / D
        var = sum((v - mu) ** 2 for v in row) / D
        r = 1 / math.sqrt(var + eps)
        x_hat = [(v - mu) * r for v in row]
        J = np.array([[r * ((i == j) - 1 / D) - r * x_hat[i] * x_hat[j] / D for j in range(D)] for i in range(D)])
        dx[n] = J.T @ (up * gamma)
        dgamma += up * np.array(x_hat)
        dbeta += up
    return {"x": dx.reshape(x.shape), "gamma": dgamma, "beta": dbeta}


def rms_backward_by_jacobian(d_out, x, gamma, eps):
    dx, dgamma = np.empty(_rows(x).shape), np.zeros(x.shape[-1])
    for n, (row, up) in enumerate(zip(_rows(x), _rows(d_out))):
        D = len(row)
        r = 1 / math.sqrt(sum(v * v for v in row) / D + eps)
        J = np.array([[r * (i == j) - r ** 3 * row[i] * row[j] / D for j in range(D)] for i in range(D)])
        dx[n] = J.T @ (up * gamma)
        dgamma += up * row * r
    return {"x": dx.reshape(x.shape), "gamma": dgamma}


def test_layer_norm_matches_the_loop_restatement():
    layer_norm = reference("layer_norm").layer_norm
    for case in cases("layer_norm"):
        x, gamma, beta, eps = case.args.values()
        np.testing.assert_allclose(layer_norm(x, gamma, beta, eps), ln_by_loops(x, gamma, beta, eps),
                                   rtol=1e-12, atol=1e-12, err_msg=case.name)


def test_rms_norm_matches_the_loop_restatement():
    rms_norm = reference("rms_norm").rms_norm
    for case in cases("rms_norm"):
        x, gamma, eps = case.args.values()
        np.testing.assert_allclose(rms_norm(x, gamma, eps), rms_by_loops(x, gamma, eps), rtol=1e-12, atol=1e-12,
                                   err_msg=case.name)


def test_layer_norm_backward_matches_the_explicit_jacobian():
    backward = reference("layer_norm_backward").layer_norm_backward
    for case in cases("layer_norm_backward"):
        d_out, x, gamma, beta, eps = case.args.values()
        got, expected = backward(d_out, x, gamma, beta, eps), ln_backward_by_jacobian(d_out, x, gamma, eps)
        assert set(got) == {"x", "gamma", "beta"}
        for name in expected:
            scale = np.abs(expected[name]).max()
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-10, atol=1e-12 * scale,
                                       err_msg=f"{case.name}: {name}")


def test_rms_norm_backward_matches_the_explicit_jacobian():
    backward = reference("rms_norm_backward").rms_norm_backward
    for case in cases("rms_norm_backward"):
        d_out, x, gamma, eps = case.args.values()
        got, expected = backward(d_out, x, gamma, eps), rms_backward_by_jacobian(d_out, x, gamma, eps)
        assert set(got) == {"x", "gamma"}
        for name in expected:
            scale = np.abs(expected[name]).max()
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-10, atol=1e-12 * scale,
                                       err_msg=f"{case.name}: {name}")


# --- properties the cases stand on ------------------------------------------------------------------------

def test_large_offset_defeats_the_one_pass_variance_but_not_the_two_pass_one():
    """Exact rational arithmetic: the reference's variance is exact on the large-offset rows, E[x^2] - E[x]^2
    in float64 is off by far more than a float32 slip, and the rows are exact in float32 (so the float32 band
    the grader allows there is tiny)."""
    ref = reference("layer_norm")
    for seed in range(5):
        x = case_named("layer_norm", "large offset", seed).args["x"]
        assert x.shape[-1] == 16 and np.abs(x).max() < 2 ** 24
        np.testing.assert_array_equal(x.astype(np.float32).astype(np.float64), x)
        _, var = ref.moments(x)
        one_pass = (x * x).mean(axis=-1) - x.mean(axis=-1) ** 2
        worst = 0.0
        for row, got, fast in zip(x, var[:, 0], one_pass):
            values = [Fraction(v) for v in row]
            mu = sum(values) / len(values)
            exact = sum((v - mu) ** 2 for v in values) / len(values)
            assert Fraction(got) == exact  # two passes: not a single bit lost
            worst = max(worst, abs(float((Fraction(fast) - exact) / exact)))
        assert worst > 1e-3, (seed, worst)  # relative error of the variance: 1e-3 is 100x a float32-sized 1e-5


def test_padding_rows_give_beta_and_zero():
    ln, rms = reference("layer_norm").layer_norm, reference("rms_norm").rms_norm
    x, gamma, beta, eps = case_named("layer_norm", "padding row").args.values()
    assert not x[-2].any()
    np.testing.assert_array_equal(ln(x, gamma, beta, eps)[-2], beta)
    x, gamma, eps = case_named("rms_norm", "padding row").args.values()
    np.testing.assert_array_equal(rms(x, gamma, eps)[-2], 0.0)


def test_layer_norm_invariances_and_statistics():
    ln = reference("layer_norm").layer_norm
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 10)) * 2 + 1
    D = x.shape[-1]
    ones, zeros = np.ones(D), np.zeros(D)
    y = ln(x, ones, zeros, 1e-3)
    var = x.var(axis=-1, keepdims=True)
    np.testing.assert_allclose(y.mean(axis=-1), 0.0, atol=1e-14)
    np.testing.assert_allclose(y.var(axis=-1, keepdims=True), var / (var + 1e-3), rtol=1e-12)  # eps inside the root
    shift = rng.standard_normal((3, 4, 1)) * 5
    np.testing.assert_allclose(ln(x + shift, ones, zeros, 1e-3), y, atol=1e-12)  # per-row shift invariance
    np.testing.assert_allclose(ln(3 * x, ones, zeros, 9e-3), y, rtol=1e-12, atol=1e-14)  # scale x by a, eps by a^2
    gamma, beta = rng.standard_normal(D), rng.standard_normal(D)
    np.testing.assert_allclose(ln(x, gamma, beta, 1e-3), y * gamma + beta, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(ln(x[1, 2], gamma, beta, 1e-3), ln(x, gamma, beta, 1e-3)[1, 2], rtol=1e-14)  # 1-D


def test_rms_norm_invariances():
    rms = reference("rms_norm").rms_norm
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4, 6)) + 0.5
    gamma = rng.standard_normal(6)
    y = rms(x, np.ones(6), 1e-4)
    np.testing.assert_allclose((y * y).mean(axis=-1, keepdims=True),
                               (x * x).mean(axis=-1, keepdims=True) / ((x * x).mean(axis=-1, keepdims=True) + 1e-4),
                               rtol=1e-12)
    np.testing.assert_allclose(rms(-2.5 * x, gamma, 6.25e-4), -rms(x, gamma, 1e-4), rtol=1e-12, atol=1e-14)
    # Zero-mean rows: RMSNorm equals LayerNorm without beta (the paper's remark).
    centred = x - x.mean(axis=-1, keepdims=True)
    np.testing.assert_allclose(rms(centred, gamma, 1e-4),
                               reference("layer_norm").layer_norm(centred, gamma, np.zeros(6), 1e-4), rtol=1e-12, atol=1e-14)


def test_layer_norm_backward_identities():
    backward = reference("layer_norm_backward").layer_norm_backward
    for case in cases("layer_norm_backward"):
        d_out, x, gamma, beta, eps = case.args.values()
        grads = backward(d_out, x, gamma, beta, eps)
        dx, D = grads["x"], x.shape[-1]
        scale = np.abs(dx).max()
        np.testing.assert_allclose(dx.sum(axis=-1), 0.0, atol=1e-12 * scale * D, err_msg=case.name)  # shift invariance
        np.testing.assert_allclose(grads["beta"], d_out.reshape(-1, D).sum(axis=0), rtol=1e-13, atol=1e-14)
        assert grads["gamma"].shape == grads["beta"].shape == (D,)


def test_rms_norm_backward_identity():
    """sum_i x_i dx_i = D * mean(g * x_hat) * eps / (mean(x^2) + eps): zero as eps -> 0 (scale invariance)."""
    backward = reference("rms_norm_backward").rms_norm_backward
    for case in cases("rms_norm_backward"):
        d_out, x, gamma, eps = case.args.values()
        dx = backward(d_out, x, gamma, eps)["x"]
        ms = (x * x).mean(axis=-1)
        x_hat = x / np.sqrt(ms + eps)[..., None]
        expected = x.shape[-1] * (d_out * gamma * x_hat).mean(axis=-1) * eps / (ms + eps)
        np.testing.assert_allclose((x * dx).sum(axis=-1), expected, rtol=1e-9, atol=1e-12, err_msg=case.name)


# --- PyTorch as an independent oracle -------------------------------------------------------------------

def test_layer_norm_matches_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    layer_norm = reference("layer_norm").layer_norm
    for seed in (0, 1):
        for case in cases("layer_norm", seed):
            x, gamma, beta, eps = case.args.values()
            expected = F.layer_norm(torch.from_numpy(x), (x.shape[-1],), torch.from_numpy(gamma), torch.from_numpy(beta),
                                    eps).numpy()
            # torch's float64 kernel (Welford) loses ~1e-10 at the 1.2e7 offset; ours is exact there (see above)
            atol = 1e-8 if case.name == "large offset" else 1e-13
            np.testing.assert_allclose(layer_norm(x, gamma, beta, eps), expected, rtol=1e-12, atol=atol, err_msg=case.name)


def test_rms_norm_matches_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rms_norm = reference("rms_norm").rms_norm
    for seed in (0, 1):
        for case in cases("rms_norm", seed):
            x, gamma, eps = case.args.values()
            expected = F.rms_norm(torch.from_numpy(x), (x.shape[-1],), torch.from_numpy(gamma), eps).numpy()
            np.testing.assert_allclose(rms_norm(x, gamma, eps), expected, rtol=1e-12, atol=1e-13, err_msg=case.name)


def _autograd(torch, forward, d_out, arrays):
    tensors = {name: torch.tensor(value, requires_grad=True) for name, value in arrays.items()}
    (forward(tensors) * torch.from_numpy(d_out)).sum().backward()
    return {name: tensor.grad.numpy() for name, tensor in tensors.items()}


def test_layer_norm_backward_matches_torch_autograd():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    backward = reference("layer_norm_backward").layer_norm_backward
    for case in cases("layer_norm_backward"):
        d_out, x, gamma, beta, eps = case.args.values()
        expected = _autograd(torch, lambda t: F.layer_norm(t["x"], (x.shape[-1],), t["gamma"], t["beta"], eps), d_out,
                             {"x": x, "gamma": gamma, "beta": beta})
        got = backward(d_out, x, gamma, beta, eps)
        for name, value in expected.items():
            np.testing.assert_allclose(got[name], value, rtol=1e-9, atol=1e-11 * np.abs(value).max(),
                                       err_msg=f"{case.name}: {name}")


def test_rms_norm_backward_matches_torch_autograd():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    backward = reference("rms_norm_backward").rms_norm_backward
    for case in cases("rms_norm_backward"):
        d_out, x, gamma, eps = case.args.values()
        expected = _autograd(torch, lambda t: F.rms_norm(t["x"], (x.shape[-1],), t["gamma"], eps), d_out,
                             {"x": x, "gamma": gamma})
        got = backward(d_out, x, gamma, eps)
        for name, value in expected.items():
            np.testing.assert_allclose(got[name], value, rtol=1e-9, atol=1e-11 * np.abs(value).max(),
                                       err_msg=f"{case.name}: {name}")


def test_the_conventions_we_rejected_really_differ_from_torch():
    """eps outside the root (the RMSNorm authors' own code) and (1 + gamma) (Gemma) are not F.rms_norm."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, gamma, eps = case_named("rms_norm", "large eps").args.values()
    expected = F.rms_norm(torch.from_numpy(x), (x.shape[-1],), torch.from_numpy(gamma), eps).numpy()
    ms = (x * x).mean(axis=-1, keepdims=True)
    assert np.abs(x / (np.sqrt(ms) + eps) * gamma - expected).max() > 1e-2
    assert np.abs(x / np.sqrt(ms + eps) * (1 + gamma) - expected).max() > 1e-2
