"""Checks for cross_entropy: the causal LM loss (shift by one, ignore_index, mean over the counted targets),
its perplexity and its gradient with respect to the logits.

Every case is one call lm_loss(logits, tokens, ignore_index) returning {"loss", "perplexity", "d_logits"}, made
through the driver call_lm_loss (the scalars are compared as shape-(1,) arrays; see its docstring). The
shapes never make B, T or V equal, and the ignored targets are spread so that every way of counting the mean
(over the counted targets, over all predictions, over all positions, over the non-ignored input tokens, per
sequence) gives a different number somewhere.
"""

import numpy as np

from mhaquiz.grader import gradcheck as fd
from mhaquiz.grader.exercises import get_exercise
from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()
OUTPUTS = ("loss", "perplexity", "d_logits")


def _text(zh, en):
    return Text(zh=zh, en=en)


# --- the cases -----------------------------------------------------------------------------------------------

def _plain(rng):
    logits = 1.5 * rng.standard_normal((2, 7, 11))
    return logits, rng.integers(0, 11, (2, 7)), -100


def _sft_padding(rng):
    """Instruction-tuning labels: a masked prompt at the start of some rows, right padding at the end of others."""
    logits = 1.5 * rng.standard_normal((3, 9, 10))
    tokens = rng.integers(0, 10, (3, 9))
    tokens[0, :4] = -100  # a 4-token prompt: its first 3 targets do not count
    tokens[1, 6:] = -100  # 3 padding tokens at the end
    tokens[2, :3] = -100  # a prompt and ...
    tokens[2, 7:] = -100  # ... padding
    return logits, tokens, -100


def _left_padding_pad_zero(rng):
    """Left padding with pad id 0, a real class index: ignore_index=0."""
    logits = 1.5 * rng.standard_normal((4, 6, 8))
    tokens = rng.integers(1, 8, (4, 6))
    for row, pads in enumerate((0, 2, 1, 4)):
        tokens[row, :pads] = 0
    return logits, tokens, 0


def _nanogpt_minus_one(rng):
    """ignore_index=-1 (nanoGPT's), scattered; V = 37 much larger than T = 4 and B = 5."""
    logits = rng.standard_normal((5, 4, 37))
    tokens = rng.integers(0, 37, (5, 4))
    tokens[0, 2] = tokens[3, 3] = tokens[1, 1] = -1
    tokens[4, 0] = -1  # position 0 is never a target: ignoring it changes nothing
    return logits, tokens, -1


def _row_all_ignored(rng):
    logits = 1.5 * rng.standard_normal((3, 6, 9))
    tokens = rng.integers(0, 9, (3, 6))
    tokens[1, 1:] = -100  # row 1 has no target that counts: the mean runs over rows 0 and 2
    tokens[2, 4] = -100
    return logits, tokens, -100


def _two_positions(rng):
    logits = 1.5 * rng.standard_normal((5, 2, 12))
    return logits, rng.integers(0, 12, (5, 2)), -100


def _large_logits(rng):
    """Logits around 1000 (a calibrated model: targets drawn from its own softmax), and one target 800 below
    the max of its row: exp(1000) overflows, and that target's softmax underflows to exactly 0."""
    B, T, V = 4, 101, 7
    base = 2.0 * rng.standard_normal((B, T, V))
    p = np.exp(base - base.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    drawn = (p.cumsum(-1) < rng.random((B, T, 1))).sum(-1).clip(0, V - 1)  # (B, T): one draw per position
    tokens = np.concatenate([rng.integers(0, V, (B, 1)), drawn[:, :-1]], axis=1)  # token t+1 drawn from row t
    logits = 1000.0 + base
    logits[2, 37, tokens[2, 38]] = logits[2, 37].max() - 800.0
    return logits, tokens, -100


# name, label, what it exposes, builder, finite differences
_CASES = (
    ("plain", _text("普通情形", "plain"),
     _text("没有被忽略的目标：只检查错位一位、取平均的分母和梯度",
           "no ignored target: only the shift by one, the mean's denominator and the gradient"), _plain, True),
    ("ignore -100: prompt and padding",
     _text("ignore_index=-100：prompt 与 padding", "ignore_index=-100: prompt and padding"),
     _text("指令微调式的标签：有的行开头是被遮住的 prompt，有的行末尾是 padding，各行计入的目标数不同",
           "instruction-tuning labels: a masked prompt at the start of some rows, padding at the end of others; "
           "every row counts a different number of targets"), _sft_padding, True),
    ("ignore_index=0, left padding", _text("ignore_index=0，左侧 padding", "ignore_index=0, left padding"),
     _text("pad id 为 0，它同时也是合法的类别下标：不做 mask 时 pad 会被当作类别 0 计分",
           "pad id 0 is also a valid class index: without the mask the padding is scored as class 0"),
     _left_padding_pad_zero, False),
    ("ignore_index=-1, V >> T", _text("ignore_index=-1，V 远大于 T", "ignore_index=-1, V >> T"),
     _text("nanoGPT 的 -1，零散分布；-1 当下标会悄悄取到最后一个类别。B=5、T=4、V=37",
           "nanoGPT's -1, scattered; -1 used as an index silently picks the last class. B=5, T=4, V=37"),
     _nanogpt_minus_one, False),
    ("a row entirely ignored", _text("整行都被忽略", "a row entirely ignored"),
     _text("第 1 行没有一个目标计入：损失是其余各行计入目标的平均，这一行的梯度全为 0",
           "row 1 has no target that counts: the loss is the mean over the other rows' targets, and that row's "
           "gradient is all 0"), _row_all_ignored, False),
    ("T = 2", _text("T = 2", "T = 2"),
     _text("每行只有一个预测（位置 0 预测 token 1）", "one prediction per row (position 0 predicts token 1)"),
     _two_positions, True),
    ("large logits", _text("大 logits", "large logits"),
     _text("logits 约为 1000：不用 log-sum-exp，exp 会溢出；有一个目标比所在行的最大值低 800，softmax 后恰好下溢为 0，"
           "log(softmax) 得到 -inf",
           "logits around 1000: without log-sum-exp exp overflows; one target sits 800 below its row's max, so its "
           "softmax underflows to exactly 0 and log(softmax) gives -inf"), _large_logits, False),
)


def call_lm_loss(namespace, args):
    """One call of lm_loss, its scalars sent as shape-(1,) arrays on both sides.

    The worker's channel sends a 0-d array as shape (1,) (np.ascontiguousarray returns ndim >= 1), while the
    grader's own reference result stays 0-d; giving both the same shape here lets a 0-d array, a NumPy scalar
    or a Python float be compared as what they are, one number.
    """
    result = namespace.lm_loss(args["logits"], args["tokens"], args["ignore_index"])
    if not isinstance(result, dict):
        raise TypeError(f"lm_loss must return a dict with keys 'loss', 'perplexity' and 'd_logits', got "
                        f"{type(result).__name__}")
    outputs = dict(result)
    for name in ("loss", "perplexity"):
        if name in outputs and np.ndim(outputs[name]) == 0:
            outputs[name] = np.reshape(outputs[name], (1,))
    return outputs


def make_cases(seed):
    cases = []
    for index, (name, label, about, build, finite_differences) in enumerate(_CASES):
        logits, tokens, ignore_index = build(np.random.default_rng([seed, 140, index]))
        tokens = tokens.astype(np.int64)
        shapes = f"logits {logits.shape}, tokens {tokens.shape}, ignore_index={ignore_index}"
        cases.append(Case(name, about, "lm_loss", {"logits": logits, "tokens": tokens, "ignore_index": ignore_index},
                          shapes=shapes, output_names=OUTPUTS, driver=call_lm_loss, gradcheck=finite_differences,
                          label=label))
    return cases


def perf_case(seed):
    """A GPT-sized batch slice with right padding, for the speed comparison with the reference."""
    rng = np.random.default_rng([seed, 140, 1000])
    B, T, V = 8, 128, 512
    tokens = rng.integers(0, V, (B, T)).astype(np.int64)
    tokens[np.arange(T) >= T - 8 * np.arange(B)[:, None]] = -100  # row b ends with 8b padding tokens
    return Case("speed", _text("带 padding 的 (8, 128, 512) logits", "(8, 128, 512) logits with padding"), "lm_loss",
                {"logits": rng.standard_normal((B, T, V)), "tokens": tokens, "ignore_index": -100},
                shapes=f"logits ({B}, {T}, {V}), tokens ({B}, {T}), ignore_index=-100", output_names=OUTPUTS,
                driver=call_lm_loss)


# --- finite differences and the heat map -------------------------------------------------------------------

def gradcheck(case, outputs):
    """d_logits against central differences of the loss along a random direction of the logits."""
    reference = get_exercise("cross_entropy").reference()
    tokens, ignore_index = case.args["tokens"], case.args["ignore_index"]
    return fd.directional_checks(lambda a: reference.lm_loss(a["logits"], tokens, ignore_index)["loss"],
                                 {"logits": case.args["logits"]}, np.ones(()),
                                 {"logits": outputs.get("d_logits")}, ("logits",))


def error_map(case, name, got, expected):
    """d_logits: |error| per batch row, position and vocabulary entry. The loss and the perplexity are single
    numbers: a 0-d view, so no map is drawn for them."""
    if np.shape(got) != np.shape(expected):
        return None
    errors = np.abs(np.asarray(got, dtype=np.float64) - expected)
    if name != "d_logits":
        return (errors.reshape(()), (), _text(f"{name} 的 |误差|", f"|error| of {name}")) if errors.size == 1 else None
    view = _text("d_logits 的 |误差|，按 batch 行、位置、词表项", "|error| of d_logits per batch row, position and vocabulary entry")
    return errors, ("axis.batch", "axis.position", "axis.vocab"), view


# --- the classic mistakes ------------------------------------------------------------------------------------

def _counted(case):
    """N, the number of counted targets, and N0, the non-ignored tokens of the whole (unshifted) input."""
    tokens, ignore_index = case.args["tokens"], case.args["ignore_index"]
    return (tokens[:, 1:] != ignore_index).sum(), (tokens != ignore_index).sum()


def _divided_by_input_tokens(outputs, case):
    n, n_input = _counted(case)
    loss = outputs["loss"] * n / n_input  # the same sum, divided by the non-ignored tokens of the input
    return {"loss": loss, "perplexity": np.exp(loss), "d_logits": outputs["d_logits"] * n / n_input}


def _perplexity_of_sum(outputs, case):
    n, _ = _counted(case)
    with np.errstate(over="ignore"):
        return dict(outputs, perplexity=np.exp(outputs["loss"] * n))  # exp of the summed NLL, not of its mean


def _perplexity_base_2(outputs, case):
    return dict(outputs, perplexity=2.0 ** outputs["loss"])  # the loss is in nats (natural log), not bits


def _naive_log_softmax(ref):
    def log_softmax(z):
        e = np.exp(z)  # overflows to inf for z > 709: inf / inf = NaN
        return np.log(e / e.sum(axis=-1, keepdims=True))

    return log_softmax


def _logsumexp_without_max(ref):
    def log_softmax(z):
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))  # log(inf) = inf: every log-probability -inf

    return log_softmax


def _log_of_stable_softmax(ref):
    def log_softmax(z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return np.log(e / e.sum(axis=-1, keepdims=True))  # a probability that underflows to 0 gives log 0 = -inf

    return log_softmax


MUTANTS = (
    Mutant("no_shift",
           Text(zh="没有错位一位：logits[:, t] 对着 tokens[:, t] 打分（模型在“预测”它已经看到的 token）",
                en="no shift by one: logits[:, t] scored against tokens[:, t] (the model 'predicts' the token it "
                   "sees)"),
           patch={"shift": lambda ref: lambda logits, tokens: (logits, tokens)},
           related=("tr-decoder-inputs", "tr-shift-right-claims")),
    Mutant("shift_by_roll",
           Text(zh="用 np.roll(tokens, -1) 错位：最后一个位置被拿去对着本行的第一个 token 打分",
                en="shifted with np.roll(tokens, -1): the last position is scored against the row's first token"),
           patch={"shift": lambda ref: lambda logits, tokens: (logits, np.roll(tokens, -1, axis=1))},
           related=("tr-decoder-inputs",)),
    Mutant("ignored_in_denominator",
           Text(zh="被忽略的目标计入了分母：除以全部 B*(T-1) 个预测，而不是计入的目标数 N",
                en="ignored targets counted in the mean: divided by all B*(T-1) predictions, not by the N counted "
                   "targets"),
           patch={"token_weights": lambda ref: lambda counted: counted / counted.size},
           related=("bw-softmax-cross-entropy",)),
    Mutant("mean_over_all_positions",
           Text(zh="除以全部 B*T 个位置：连不预测任何东西的最后一个位置（和被忽略的目标）也算进了分母",
                en="divided by all B*T positions: the last position, which predicts nothing (and the ignored targets), "
                   "counted in the mean"),
           patch={"token_weights": lambda ref: lambda counted: counted / (counted.shape[0] * (counted.shape[1] + 1))},
           related=("bw-softmax-cross-entropy", "tr-decoder-inputs")),
    Mutant("count_before_shift",
           Text(zh="分母是错位之前数的：数了输入里所有非 ignore 的 token（包括从来不是目标的 tokens[:, 0]）",
                en="the count taken before the shift: every non-ignored input token (tokens[:, 0], never a target, "
                   "included)"),
           transform=_divided_by_input_tokens, related=("bw-softmax-cross-entropy", "tr-decoder-inputs")),
    Mutant("per_sequence_mean",
           Text(zh="先对每个序列求平均，再对各序列求平均：短序列的 token 权重变大（整行都被忽略时是 0/0）",
                en="a mean per sequence, then the mean of those: tokens of short rows weigh more (0/0 for a row "
                   "entirely ignored)"),
           patch={"token_weights": lambda ref: lambda counted: counted / counted.sum(axis=1, keepdims=True)
                  / counted.shape[0]},
           related=("bw-softmax-cross-entropy",)),
    Mutant("ignore_not_masked",
           Text(zh="ignore_index 完全没有处理：被忽略的目标被当成类别下标（-100 越界报错，-1 取到最后一类，pad id 0 就是类别 0）",
                en="ignore_index not handled at all: ignored targets used as class indices (-100 is out of range, -1 "
                   "picks the last class, pad id 0 is class 0)"),
           patch={"counted_targets": lambda ref: lambda targets, ignore_index: np.ones(targets.shape, dtype=bool)},
           related=("bw-softmax-cross-entropy",)),
    Mutant("log_of_softmax",
           Text(zh="直接对 softmax 取 log，没有 log-sum-exp：logits 很大时 exp 溢出，得到 inf/NaN",
                en="log of a softmax without log-sum-exp: on large logits exp overflows to inf/NaN"),
           patch={"log_softmax": _naive_log_softmax},
           related=("bw-ce-stable-api", "bw-softmax-max-subtraction", "bw-softmax-cross-entropy")),
    Mutant("logsumexp_without_max",
           Text(zh="log-sum-exp 没有先减最大值：log(Σ exp(z)) 溢出成 inf，所有 log 概率都成了 -inf",
                en="log-sum-exp without subtracting the max: log(sum(exp(z))) overflows to inf, every log-probability "
                   "becomes -inf"),
           patch={"log_softmax": _logsumexp_without_max},
           related=("bw-softmax-max-subtraction", "bw-softmax-cross-entropy")),
    Mutant("log_of_stable_softmax",
           Text(zh="减了最大值的 softmax 再取 log：很小的概率下溢为 0，log 0 = -inf，损失变成 inf",
                en="log of a max-subtracted softmax: a tiny probability underflows to 0, log 0 = -inf, the loss is "
                   "inf"),
           patch={"log_softmax": _log_of_stable_softmax},
           related=("bw-ce-stable-api", "bw-softmax-cross-entropy")),
    Mutant("gradient_not_averaged",
           Text(zh="梯度没有除以 N：对应的是求和的损失，而不是平均的损失",
                en="the gradient not divided by N: it is the gradient of the summed loss, not of the mean"),
           patch={"nll_gradient": lambda ref: lambda log_probs, targets, weights: ref.nll_gradient(
               log_probs, targets, (weights > 0).astype(np.float64))},
           related=("bw-ce-gradient", "bw-softmax-cross-entropy")),
    Mutant("gradient_without_one_hot",
           Text(zh="梯度只有 softmax，没有减去 one_hot(target)",
                en="the gradient is the softmax alone: one_hot(target) not subtracted"),
           patch={"nll_gradient": lambda ref: lambda log_probs, targets, weights: weights[..., None]
                  * np.exp(log_probs)},
           related=("bw-ce-gradient",)),
    Mutant("gradient_sign_flipped",
           Text(zh="梯度符号反了：one_hot - softmax", en="the gradient's sign flipped: one_hot - softmax"),
           patch={"nll_gradient": lambda ref: lambda log_probs, targets, weights: -ref.nll_gradient(
               log_probs, targets, weights)},
           related=("bw-ce-gradient",)),
    Mutant("perplexity_of_sum",
           Text(zh="困惑度取了求和损失的 exp，而不是平均损失的 exp", en="perplexity as exp of the summed loss, not of the mean"),
           transform=_perplexity_of_sum, related=("bw-softmax-cross-entropy",)),
    Mutant("perplexity_base_2",
           Text(zh="困惑度用了 2**loss：损失是以 e 为底的（nats），应为 exp(loss)",
                en="perplexity as 2**loss: the loss is in nats (natural log), so it is exp(loss)"),
           transform=_perplexity_base_2, related=("bw-softmax-cross-entropy",)),
)


# --- the PyTorch track --------------------------------------------------------------------------------------



def torch_call(namespace, args, case):
    """A PyTorch submission on a case: lm_loss on tensors (logits float64, tokens int64), its outputs brought
    back as arrays and shaped as call_lm_loss shapes them."""
    from types import SimpleNamespace

    from mhaquiz.grader.torch_form import tensor, to_numpy

    def lm_loss(logits, tokens, ignore_index):
        return to_numpy(namespace.lm_loss(tensor(logits), tensor(tokens), ignore_index))

    return call_lm_loss(SimpleNamespace(lm_loss=lm_loss), args)
