"""Checks for mha_forward: the standard attention cases and the forward mistakes to recognise."""

from mhaquiz.grader import inputs, mistakes
from mhaquiz.grader.spec import Case, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()
MUTANTS = mistakes.FORWARD + mistakes.FORWARD_OUTPUT + (mistakes.MASK_FILL, mistakes.MASK_ADD)


def make_cases(seed):
    standard = [Case(name, about, "mha_forward", args, shapes=shapes, label=label)
                for name, label, about, shapes, args in inputs.mha_cases(seed)]
    return standard + [_very_negative_scores(seed), _outscored_keys(seed)]


def _outscored_keys(seed):
    """Self-attention with W_q = I and W_k = -I (no biases on q and k), every head holding the same fixed
    pattern (mistakes.outscored_keys): each query's one masked key outscores every allowed key by millions,
    so a -1e4 fill (replacing the score or added to it) fails at every seed. V, W_o and their biases are seeded."""
    import numpy as np

    B, T, H, dh = 2, 4, 2, 6
    D = H * dh
    p, mask = mistakes.outscored_keys(T, dh)  # (T, dh), (T, T)
    x = np.tile(p, (B, 1, H))  # (B, T, D): every head's columns hold p
    x[1] = x[1, ::-1]  # the second example takes the tokens in reverse order
    params = inputs.mha_params(np.random.default_rng([seed, 51]), D)
    params.update(W_q=np.eye(D), b_q=np.zeros(D), W_k=-np.eye(D), b_k=np.zeros(D))
    args = {"q": x, "k": x, "v": x, "params": params, "num_heads": H, "mask": np.stack([mask, mask[::-1, ::-1]])}
    return Case("masked keys outscore", mistakes.OUTSCORED_ABOUT, "mha_forward", args,
                shapes=inputs.mha_shapes(args), label=mistakes.OUTSCORED_LABEL)


def _very_negative_scores(seed):
    """Causal self-attention with W_k = -W_q and b_k = -b_q at inputs x1000: each query's score with its own
    key is -|Q_i|^2 / sqrt(dh), about -1e6, so query 0 (which may see only key 0) has nothing but a very
    negative score: masking with -1e4 instead of -inf hands its weight to the masked keys."""
    import numpy as np

    rng = np.random.default_rng([seed, 50])
    B, T, D, H = 2, 5, 12, 3
    x = 1000.0 * rng.standard_normal((B, T, D))
    params = inputs.mha_params(rng, D)
    params["W_k"], params["b_k"] = -params["W_q"], -params["b_q"]
    args = {"q": x, "k": x, "v": x, "params": params, "num_heads": H, "mask": inputs.causal_mask(T)}
    return Case("very negative scores", Text(
        zh="自注意力且 W_k = -W_q，输入乘 1000：每个 query 对自身 key 的分数约为 -1e6；用 -1e4 代替 -inf 做 mask 会出错",
        en="self-attention with W_k = -W_q, inputs x1000: each query's score with its own key is about -1e6; masking "
           "with -1e4 instead of -inf goes wrong"), "mha_forward", args, shapes=inputs.mha_shapes(args),
        label=Text(zh="极负的分数", en="very negative scores"))


def perf_case(seed):
    """A larger causal self-attention, for the speed comparison with the reference."""
    args = inputs.mha_perf_args(seed)
    return Case("speed", Text(zh="更大的因果自注意力", en="larger causal self-attention"), "mha_forward", args,
                shapes=inputs.mha_shapes(args))


def error_map(case, name, got, expected):
    """|error| per batch, query position and head, seen before W_o (solve heads @ W_o = out - b_o)."""
    return inputs.heads_error_map(case, got, expected)


# --- the PyTorch track --------------------------------------------------------------------------------------



def torch_call(namespace, args, case):
    """A PyTorch submission on a case: MultiHeadAttention(D, H) with the case's weights loaded by name."""
    import torch

    from mhaquiz.grader.torch_form import build, load_linears, tensor

    module = build(namespace, "MultiHeadAttention", args["q"].shape[-1], args["num_heads"])
    load_linears(module, args["params"])
    with torch.no_grad():
        return module(tensor(args["q"]), tensor(args["k"]), tensor(args["v"]), mask=tensor(args["mask"]))
