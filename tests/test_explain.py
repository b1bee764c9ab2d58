"""Every explanation is computed from the shapes in the error: each one is shown here on the shapes that produce
it, from the message NumPy (or Python's parser) really gives, and its advice is checked to be true of those
shapes (the fix it names broadcasts; the dh it names fits). A 2-D (Tq, Tk) mask already expanded with
`mask[:, None]` is never told to add the head axis it already has."""

import numpy as np
import pytest

from mhaquiz.grader.explain import broadcasts, explain
from mhaquiz.grader.verdict import Verdict
from tests.helpers import grade_source, reference_source, with_edits


def raised(operation) -> dict:
    """The error dict the worker sends for the exception `operation()` really raises."""
    try:
        operation()
    except Exception as error:  # noqa: BLE001
        return {"type": type(error).__name__, "message": str(error)}
    raise AssertionError("the operation did not raise")


def parse_error(source: str) -> dict:
    try:
        compile(source, "submission.py", "exec")
    except SyntaxError as error:
        return {"type": type(error).__name__, "message": error.msg}
    raise AssertionError("the source parsed")


def both(message) -> tuple:
    return message.text("en"), message.text("zh")


def zeros(*shape):
    return np.zeros(shape)


def test_a_3d_mask_without_head_axis_is_told_where_the_axis_goes_and_the_fix_broadcasts():
    scores, mask = zeros(2, 4, 5, 5), zeros(2, 5, 5)  # (B, H, Tq, Tk) and (B, Tq, Tk), B != H
    message = explain(raised(lambda: scores + mask))
    assert message.key == "explain.mask_head_axis"
    assert message.params["fix"] == "mask[:, None]" and message.params["fixed"] == "(2, 1, 5, 5)"
    assert broadcasts(mask[:, None].shape, scores.shape)  # the advice is true of these shapes
    en, zh = both(message)
    assert "mask[:, None]" in en and "(2, 1, 5, 5)" in en and "(2, 4, 5, 5)" in en
    assert "缺少头的维度" in zh and "(2, 1, 5, 5)" in zh


def test_a_padding_mask_without_head_axis_gets_the_same_advice_with_its_own_shape():
    scores, mask = zeros(3, 2, 5, 7), zeros(3, 1, 7)  # (B, 1, Tk) padding mask, B != H
    message = explain(raised(lambda: np.where(mask.astype(bool), scores, -np.inf)))
    assert message.key == "explain.mask_head_axis"
    assert message.params["mask"] == "(3, 1, 7)" and message.params["fixed"] == "(3, 1, 1, 7)"


def test_a_2d_mask_given_a_head_axis_with_none_is_told_it_needs_its_batch_axis_not_the_head_axis():
    scores, mask = zeros(2, 4, 5, 5), zeros(5, 5)  # (B, H, Tq, Tk) and a 2-D (Tq, Tk) causal mask
    message = explain(raised(lambda: np.where(mask[:, None].astype(bool), scores, -np.inf)))
    assert message.key == "explain.mask_2d_expanded"
    assert message.params == {"mask": "(5, 1, 5)", "scores": "(2, 4, 5, 5)", "original": "(5, 5)"}
    en, zh = both(message)
    assert "batch axis" in en and "mask[..., None, :, :]" in en
    assert "give it a head axis" not in en and "lacks the head axis" not in en
    assert "batch 维度" in zh and "mask[..., None, :, :]" in zh
    # the advice holds for both kinds of mask
    assert broadcasts(mask[..., None, :, :].shape, scores.shape)
    assert broadcasts(zeros(2, 5, 5)[..., None, :, :].shape, scores.shape)


def test_the_2d_mask_through_the_grader_gets_the_batch_axis_advice(tmp_path):
    # mha_forward's first case has a 2-D causal mask; add_head_axis written as mask[:, None]
    source = with_edits(reference_source("mha_forward"), ("return np.expand_dims(mask, -3)", "return mask[:, None]"))
    report = grade_source(tmp_path, "mha_forward", source)
    assert report.verdict == Verdict.RUNTIME_ERROR
    errors = [case.error for case in report.exercises[0].cases if case.error]
    assert errors and {error["explanation"].key for error in errors} == {"explain.mask_2d_expanded"}


def test_a_mask_missing_two_axes_is_given_both():
    scores, mask = zeros(2, 3, 4, 5, 6), zeros(2, 5, 6)  # GQA-style (B, Hkv, G, Tq, Tk) and (B, Tq, Tk)
    message = explain(raised(lambda: scores + mask))
    assert message.key == "explain.mask_missing_axis"
    assert message.params["fix"] == "mask[:, None, None]" and message.params["fixed"] == "(2, 1, 1, 5, 6)"
    assert broadcasts(mask[:, None, None].shape, scores.shape)


def test_heads_merged_into_the_batch_axis():
    scores, mask = zeros(8, 5, 5), zeros(2, 5, 5)  # (B*H, Tq, Tk) with H = 4, and (B, Tq, Tk)
    message = explain(raised(lambda: scores + mask))
    assert message.key == "explain.heads_merged" and message.params["heads"] == 4
    assert np.repeat(mask, 4, axis=0).shape == scores.shape
    assert "np.repeat(mask, 4, axis=0)" in message.text("en")


def test_any_other_broadcast_names_the_axis_where_the_shapes_disagree():
    message = explain(raised(lambda: zeros(2, 5, 8) + zeros(2, 5, 6)))
    assert message.key == "explain.broadcast"
    assert (message.params["axis"], message.params["a"], message.params["b"]) == (-1, 8, 6)
    message = explain(raised(lambda: zeros(3, 5, 8) + zeros(2, 5, 8)))
    assert (message.params["axis"], message.params["a"], message.params["b"]) == (-3, 3, 2)
    assert "第 -3 维上一个是 3、一个是 2" in message.text("zh")


def test_a_head_split_with_the_wrong_dh_is_told_the_right_one():
    x = zeros(2, 5, 24)  # (B, T, D), D = 24, H = 4: dh must be 6
    message = explain(raised(lambda: x.reshape(2, 5, 4, 5)))
    assert message.key == "explain.reshape_heads"
    assert (message.params["width"], message.params["heads"], message.params["right"], message.params["dh"]) == (24, 4, 6, 5)
    assert x.reshape(2, 5, 4, message.params["right"]).shape == (2, 5, 4, 6)
    assert "dh = D // H = 6" in message.text("en")


def test_a_head_count_that_does_not_divide_d_is_said_so():
    message = explain(raised(lambda: zeros(2, 5, 24).reshape(2, 5, 5, 5)))
    assert message.key == "explain.reshape_heads_indivisible"
    assert (message.params["width"], message.params["heads"]) == (24, 5)


def test_any_other_reshape_gives_both_sizes():
    message = explain(raised(lambda: zeros(3, 4).reshape(5, 2)))
    assert message.key == "explain.reshape" and (message.params["size"], message.params["target"]) == (12, 10)


def test_matmul_names_the_two_inner_sizes_in_order():
    Q, K = zeros(2, 5, 8), zeros(2, 6, 8)  # (B, Tq, dh) @ (B, Tk, dh): K not transposed
    message = explain(raised(lambda: Q @ K))
    assert message.key == "explain.matmul" and (message.params["left"], message.params["right"]) == (8, 6)
    assert (Q @ K.swapaxes(-1, -2)).shape == (2, 5, 6)


def test_an_axis_out_of_range_names_the_valid_axes():
    message = explain(raised(lambda: zeros(2, 5).sum(axis=2)))
    assert message.key == "explain.axis"
    assert (message.params["axis"], message.params["ndim"], message.params["last"]) == (2, 2, 1)
    assert "0 to 1, or -1 to -2" in message.text("en")


def test_unpacking_a_shape_with_too_few_or_too_many_axes():
    def unpack3(array):
        B, T, D = array.shape  # noqa: F841

    def unpack2(array):
        T, D = array.shape  # noqa: F841

    few = explain(raised(lambda: unpack3(zeros(5, 5))))
    assert few.key == "explain.unpack_few" and (few.params["expected"], few.params["got"]) == (3, 2)
    many = explain(raised(lambda: unpack2(zeros(2, 5, 5))))
    assert many.key == "explain.unpack_many" and many.params["expected"] == 2


@pytest.mark.parametrize("source, key, params", [
    ("x = max(1，2)\n", "explain.fullwidth", {"char": "，", "ascii": ","}),
    ("x = （1 + 2)\n", "explain.fullwidth", {"char": "（", "ascii": "("}),
    ("def f(x)\n    return x\n", "explain.colon", {}),
    ("x = (1,\n", "explain.brackets", {}),
    ("a = [1, 2)\n", "explain.brackets", {}),
    ("  x = 1\n", "explain.indent", {}),
    ("if True:\n\tx = 1\n        y = 2\n", "explain.tabs", {}),
    ("s = 'abc\n", "explain.string", {}),
    ("x = 1\u00a0+ 2\n", "explain.invisible", {}),
    ("x = 1 +\n", "explain.syntax", {}),
])
def test_each_syntax_error_is_explained(source, key, params):
    message = explain(parse_error(source))
    assert (message.key, message.params) == (key, params)


def test_a_gbk_file_is_explained_in_the_learners_language(tmp_path):
    from mhaquiz.grader.grade import grade_file

    for name, text in (("first_line.py", "# 中文注释\nimport numpy as np\n"),
                       ("later_line.py", "import numpy as np\n# 中文注释\n")):
        path = tmp_path / name
        path.write_bytes((text + "def softmax(x, axis=-1):\n    return x\n").encode("gbk"))
        report = grade_file(path)
        assert report.verdict == Verdict.SYNTAX_ERROR
        assert report.error["explanation"].key == "explain.encoding"
        assert "GBK" in report.error["explanation"].text("zh")
        assert "?" not in report.detail.text("zh")  # no "第 ? 行" when Python gives no line


def test_unrelated_errors_get_no_explanation():
    assert explain(raised(lambda: {}["missing"])) is None
    assert explain(raised(lambda: int("x"))) is None
