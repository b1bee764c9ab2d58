"""Checks for transformer_block: a pre-LN (GPT-2 style) decoder layer, h = x + MHA(LN1(x)), y = h + FFN(LN2(h)).

Every graded case passes a mask (causal, or causal and padding), so forgetting the mask is caught. The
inputs carry a per-token mean offset (a LayerNorm that does not centre shows), LN and FFN parameters that are
far from the identity (gamma != 1, beta != 0, nonzero biases), and one case drives the FFN's pre-activations
into GELU's negative tail near -2.7, where the tanh approximation and the exact erf form differ most relative
to the value (up to 4.7e-4 on a value of about -0.01) and ReLU gives exactly 0.

Sizes are chosen so that every mistake is far beyond a float32 slip on every case it changes (a tiny
difference would be reported as a precision finding, not named): eps is 0.01 (0.1 in one case) so that eps
outside the square root shows at unit variance, and 1e-5 (GPT-2's) only on the small-variance case where it
shows anyway; b_1 is shifted to -1 and W_2 doubled, so most pre-activations sit where the two GELUs differ.
"""

import math

import numpy as np

from mhaquiz.grader import inputs, mistakes
from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()


def _text(zh, en):
    return Text(zh=zh, en=en)


# --- the layer in the wrong order -------------------------------------------------------------------------

def _ln(ref, params, which, z):
    return ref.layer_norm(z, params[f"{which}_gamma"], params[f"{which}_beta"], params["eps"])


def _block(order):
    """A transformer_block computed by order(x, attend, feed, ln1, ln2) from the reference's helpers."""

    def factory(ref):
        def transformer_block(x, params, num_heads, mask=None):
            def attend(z):
                return ref.self_attention(z, params, num_heads, mask)

            def feed(z):
                return ref.ffn(z, params)

            return order(x, attend, feed, lambda z: _ln(ref, params, "ln1", z), lambda z: _ln(ref, params, "ln2", z))

        return transformer_block

    return factory


def _post_ln(x, attend, feed, ln1, ln2):
    h = ln1(x + attend(x))  # the original Transformer: LayerNorm(x + Sublayer(x))
    return ln2(h + feed(h))


def _residual_from_normed(x, attend, feed, ln1, ln2):
    z = ln1(x)  # x = ln_1(x); x = x + attn(x): the residual stream now carries LN1(x)
    h = z + attend(z)
    z = ln2(h)
    return z + feed(z)


def _norm_after_sublayer(x, attend, feed, ln1, ln2):
    h = x + ln1(attend(x))  # x + LN(Sublayer(x)): the norm on the sub-layer's output, not its input
    return h + ln2(feed(h))


def _no_attn_residual(x, attend, feed, ln1, ln2):
    h = attend(ln1(x))
    return h + feed(ln2(h))


def _no_ffn_residual(x, attend, feed, ln1, ln2):
    h = x + attend(ln1(x))
    return feed(ln2(h))


def _swap_layer_norms(args):
    args = dict(args)
    params = dict(args["params"])
    for name in ("gamma", "beta"):
        params[f"ln1_{name}"], params[f"ln2_{name}"] = args["params"][f"ln2_{name}"], args["params"][f"ln1_{name}"]
    args["params"] = params
    return args


# --- LayerNorm and GELU written wrong ---------------------------------------------------------------------

def _layer_norm(rule):
    def factory(ref):
        def layer_norm(x, gamma, beta, eps):
            return rule(x, eps) * gamma + beta

        return layer_norm

    return factory


def _unbiased(x, eps):
    centred = x - x.mean(axis=-1, keepdims=True)
    return centred / np.sqrt(centred.var(axis=-1, ddof=1, keepdims=True) + eps)  # divides by D - 1


def _eps_outside(x, eps):
    centred = x - x.mean(axis=-1, keepdims=True)
    return centred / (centred.std(axis=-1, keepdims=True) + eps)


def _rms(x, eps):
    return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)  # RMSNorm: the mean never subtracted


def _over_time(x, eps):
    centred = x - x.mean(axis=-2, keepdims=True)  # statistics over the sequence axis, not the features
    return centred / np.sqrt(centred.var(axis=-2, keepdims=True) + eps)


_erf = np.vectorize(math.erf, otypes=[float])


def _gelu_exact(ref):
    return lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))  # x * Phi(x): nn.GELU()'s default


def _relu(ref):
    return lambda x: np.maximum(x, 0.0)


BLOCK = (
    Mutant("post_ln",
           _text("写成了 Post-LN：LN(x + Sublayer(x))（原始 Transformer 的顺序），约定是 Pre-LN：x + Sublayer(LN(x))",
                 "post-LN order: LN(x + Sublayer(x)) (the original Transformer) instead of pre-LN "
                 "x + Sublayer(LN(x))"),
           patch={"transformer_block": _block(_post_ln)},
           related=("tr-pre-vs-post-ln", "norm-pre-post-ln-gradients")),
    Mutant("residual_from_normed",
           _text("残差从 LN 之后的值开始：写成了 x = ln(x); x = x + attn(x)，残差流里不再是原始的 x",
                 "the residual starts from the normalised value: x = ln(x); x = x + attn(x) loses the raw x "
                 "from the residual stream"),
           patch={"transformer_block": _block(_residual_from_normed)},
           related=("tr-residual-purpose", "tr-pre-vs-post-ln")),
    Mutant("norm_after_sublayer",
           _text("LN 放在了子层的输出上：x + LN(Sublayer(x))，应为 x + Sublayer(LN(x))",
                 "LayerNorm applied to the sub-layer's output: x + LN(Sublayer(x)) instead of x + Sublayer(LN(x))"),
           patch={"transformer_block": _block(_norm_after_sublayer)}, related=("tr-pre-vs-post-ln",)),
    Mutant("no_attn_residual",
           _text("注意力子层外面没有残差连接：h = MHA(LN1(x))，少了 x +",
                 "no residual around attention: h = MHA(LN1(x)) without the x +"),
           patch={"transformer_block": _block(_no_attn_residual)}, related=("tr-residual-purpose",)),
    Mutant("no_ffn_residual",
           _text("FFN 子层外面没有残差连接：y = FFN(LN2(h))，少了 h +",
                 "no residual around the FFN: y = FFN(LN2(h)) without the h +"),
           patch={"transformer_block": _block(_no_ffn_residual)}, related=("tr-residual-purpose", "tr-ffn-role")),
    Mutant("ln_params_swapped",
           _text("两个 LayerNorm 的参数用反了：LN1 用了 ln2_gamma/ln2_beta，LN2 用了 ln1 的",
                 "the two LayerNorms' parameters swapped: LN1 used ln2_gamma/ln2_beta and LN2 ln1's"),
           args_transform=_swap_layer_norms, related=("norm-layernorm-params",)),
    Mutant("ln_unbiased_variance",
           _text("LayerNorm 用了无偏方差（除以 D - 1），约定是有偏方差（除以 D）",
                 "LayerNorm with the unbiased variance (divided by D - 1) instead of the biased one (by D)"),
           patch={"layer_norm": _layer_norm(_unbiased)},
           related=("norm-unbiased-shrink-factor", "norm-annotated-layernorm-diff")),
    Mutant("ln_eps_outside_sqrt",
           _text("eps 加在了根号外面：(x - mean) / (std + eps)，应为 / sqrt(var + eps)",
                 "eps added outside the square root: (x - mean) / (std + eps) instead of / sqrt(var + eps)"),
           patch={"layer_norm": _layer_norm(_eps_outside)},
           related=("norm-annotated-layernorm-diff", "norm-layernorm-formula")),
    Mutant("rms_norm_instead",
           _text("没有减均值：写成了 RMSNorm 的 x / sqrt(mean(x²) + eps)，LayerNorm 要先减去均值",
                 "the mean never subtracted: RMSNorm's x / sqrt(mean(x^2) + eps) instead of LayerNorm"),
           patch={"layer_norm": _layer_norm(_rms)}, related=("norm-rmsnorm-vs-layernorm", "norm-layernorm-formula")),
    Mutant("ln_over_time",
           _text("LayerNorm 的均值和方差沿序列维（axis=1）算了，应沿特征维（最后一维）",
                 "LayerNorm statistics over the sequence axis (axis 1) instead of the features (last axis)"),
           patch={"layer_norm": _layer_norm(_over_time)},
           related=("norm-ln-vs-bn-transformer", "norm-layernorm-formula")),
    Mutant("gelu_exact",
           _text("用了精确的 erf 形式 GELU（x·Φ(x)，nn.GELU() 的默认），约定是 GPT-2 的 tanh 近似",
                 "the exact erf GELU (x·Phi(x), nn.GELU()'s default) instead of GPT-2's tanh approximation"),
           patch={"gelu": _gelu_exact}, related=("arch-gelu-approx", "arch-activations-which-llm")),
    Mutant("relu_instead_of_gelu",
           _text("FFN 用了 ReLU，约定是 GELU（tanh 近似）", "ReLU in the FFN instead of GELU (tanh approximation)"),
           patch={"gelu": _relu}, related=("arch-activations-which-llm", "tr-ffn-role")),
)

_ATTENTION_USED = ("no_scale", "scale_by_d_model", "softmax_over_queries", "split_without_transpose",
                   "merge_without_transpose", "heads_interleaved", "mask_ignored", "mask_causal_hardwired",
                   "mask_inverted", "mask_after_softmax", "mask_without_head_axis", "biases_ignored",
                   "mask_fill_too_small")
MUTANTS = BLOCK + mistakes.pick(*_ATTENTION_USED)


# --- the cases --------------------------------------------------------------------------------------------

def block_params(rng, D, F, eps=1e-2, ffn_bias=-1.0, w1_std=1.0, w2_std=2.0):
    """MHA parameters as mha_forward's, two LayerNorms far from the identity, the FFN's (D, F) and (F, D)
    weights and nonzero biases; `ffn_bias` shifts b_1 (the FFN's pre-activations) as a whole."""
    params = inputs.mha_params(rng, D)
    for ln in ("ln1", "ln2"):
        params[f"{ln}_gamma"] = 1.0 + 0.3 * rng.standard_normal(D)
        params[f"{ln}_beta"] = 0.3 * rng.standard_normal(D)
    params["W_1"] = w1_std * rng.standard_normal((D, F)) / np.sqrt(D)
    params["b_1"] = ffn_bias + 0.5 * rng.standard_normal(F)
    params["W_2"] = w2_std * rng.standard_normal((F, D)) / np.sqrt(F)
    params["b_2"] = 0.5 * rng.standard_normal(D)
    params["eps"] = eps
    return params


def causal_padding_mask(lengths, T):
    """(B, T, T): query i sees key j when j <= i and j is a real token of its example (j < length)."""
    return inputs.causal_mask(T)[None] & (np.arange(T)[None, None, :] < np.asarray(lengths)[:, None, None])


def packed_causal_mask(documents, T):
    """(B, T, T): several documents packed into each row (pretraining's sequence packing): query i sees key j
    when j <= i and both belong to the same document. Block-diagonal, so no row is a prefix of the keys."""
    starts = np.zeros((len(documents), T), dtype=int)  # (B, T): where each position's document starts
    for b, lengths in enumerate(documents):
        starts[b] = np.repeat(np.cumsum((0,) + tuple(lengths))[:-1], lengths)
    j = np.arange(T)
    return inputs.causal_mask(T)[None] & (j[None, None, :] >= starts[:, :, None])


# name, label, what it exposes, (B, T, D, H, F), the mask (None: a plain (T, T) causal mask; a tuple of lengths:
# causal + right padding; {"packed": documents per row}: packed documents), input kind, parameter options
_CASES = (
    ("causal", _text("因果", "causal"),
     _text("(T, T) 因果 mask，B != T != D，F = 4D（GPT-2 的比例），输入带逐 token 的均值偏移，eps = 0.01",
           "a (T, T) causal mask, B != T != D, F = 4D (GPT-2's ratio), inputs with a per-token mean offset, "
           "eps = 0.01"),
     (2, 5, 12, 3, 48), None, "offset", {}),
    ("causal + padding, B = H", _text("因果 + padding，B = H", "causal + padding, B = H"),
     _text("(B, T, T) mask：因果且各样本长度 6、4、2（右侧 padding）；B = H，没加头维度的 mask 会悄悄对错位",
           "a (B, T, T) mask: causal and lengths 6, 4, 2 (right padding); B = H, so a mask given no head axis "
           "lines up silently with the wrong axis"),
     (3, 6, 18, 3, 40), (6, 4, 2), "offset", {}),
    ("small variance, mean offset", _text("小方差、大均值", "small variance, mean offset"),
     _text("每个 token 的特征是 1~3 之间的一个常数加标准差 0.05 的噪声，eps = 1e-5（GPT-2 的值）："
           "不减均值、eps 放在根号外都会明显出错",
           "each token's features are one constant between 1 and 3 plus noise of std 0.05, eps = 1e-5 (GPT-2's): "
           "a norm that does not centre, or eps outside the square root, is clearly off"),
     (2, 4, 10, 2, 24), None, "small variance", {"eps": 1e-5, "ffn_bias": -2.0, "w2_std": 4.0}),
    ("GELU negative tail", _text("GELU 负半轴", "GELU negative tail"),
     _text("FFN 的预激活集中在 -2.7 附近：tanh 近似与 erf 精确形式在这里相对差最大，ReLU 在这里全是 0",
           "FFN pre-activations around -2.7: where the tanh approximation and the exact erf form differ most "
           "relative to the value, and where ReLU gives 0"),
     (2, 4, 8, 2, 32), None, "offset", {"ffn_bias": -2.7, "w1_std": 0.3, "w2_std": 6.0}),
    ("many heads, eps = 0.1", _text("多头，eps = 0.1", "many heads, eps = 0.1"),
     _text("H = 6、dh = 2；eps 取 0.1（从 params 里读，不要写死 1e-5）",
           "H = 6, dh = 2; eps = 0.1 (read it from params, do not hard-wire 1e-5)"),
     (2, 7, 12, 6, 20), None, "offset", {"eps": 0.1}),
    ("larger, causal + padding", _text("更大，因果 + padding", "larger, causal + padding"),
     _text("B=2、T=16、D=32、H=4、F=128，(B, T, T) 因果 + padding mask（长度 16、11）",
           "B=2, T=16, D=32, H=4, F=128 with a (B, T, T) causal + padding mask (lengths 16 and 11)"),
     (2, 16, 32, 4, 128), (16, 11), "offset", {}),
    ("packed documents", _text("打包的多篇文档", "packed documents"),
     _text("(B, T, T) 块对角因果 mask：每行拼了几篇文档（长度 3+5、2+4+2），只能看本篇之前的 token；"
           "这种 mask 不是 key 的前缀，只会处理长度的实现会在这里出错",
           "a (B, T, T) block-diagonal causal mask: documents packed into each row (lengths 3+5 and 2+4+2), each "
           "token sees only its own document's past; no row is a prefix of the keys, so code that only handles "
           "lengths fails here"),
     (2, 8, 12, 3, 36), {"packed": ((3, 5), (2, 4, 2))}, "offset", {}),
)


def _x(rng, shape, kind):
    B, T, D = shape
    if kind == "small variance":
        return rng.uniform(1.0, 3.0, (B, T, 1)) + 0.05 * rng.standard_normal(shape)
    return rng.standard_normal(shape) + rng.normal(1.0, 1.0, (B, T, 1))  # a mean offset per token


def shapes_of(args):
    (B, T, D), F = args["x"].shape, args["params"]["W_1"].shape[1]
    mask = args["mask"]
    return f"B={B} T={T} D={D} H={args['num_heads']} F={F}" + ("" if mask is None else f", mask {mask.shape}")


def make_cases(seed):
    cases = []
    for index, (name, label, about, (B, T, D, H, F), lengths, kind, options) in enumerate(_CASES):
        rng = np.random.default_rng([seed, 160, index])
        x = _x(rng, (B, T, D), kind)
        params = block_params(rng, D, F, **options)
        if lengths is None:
            mask = inputs.causal_mask(T)  # (T, T)
        elif isinstance(lengths, dict):
            mask = packed_causal_mask(lengths["packed"], T)  # (B, T, T)
        else:
            mask = causal_padding_mask(lengths, T)  # (B, T, T)
        args = {"x": x, "params": params, "num_heads": H, "mask": mask}
        cases.append(Case(name, about, "transformer_block", args, shapes=shapes_of(args), label=label))
    return cases + [_outscored_keys(seed)]


def _outscored_keys(seed):
    """Every head of LN1(x) holds the same fixed pattern (mistakes.outscored_keys: zero-mean tokens, which
    LayerNorm keeps up to a factor per token) scaled by gamma = 1500, with W_q = I and W_k = -I (no biases on
    q and k): each query's one masked key outscores every allowed key by millions, so a -1e4 fill fails at
    every seed. The rest of the layer is seeded."""
    B, T, H, dh, F = 2, 4, 2, 6, 24
    D = H * dh
    p, mask = mistakes.outscored_keys(T, dh)  # (T, dh), (T, T)
    x = np.tile(p / np.abs(p).max(), (B, 1, H))  # (B, T, D): zero mean per token, every head's columns hold p
    x[1] = x[1, [2, 3, 0, 1]]  # the second example swaps the two pairs of partners: the same (T, T) mask holds
    params = block_params(np.random.default_rng([seed, 160, 50]), D, F)
    params.update(ln1_gamma=np.full(D, 1500.0), ln1_beta=np.zeros(D), W_q=np.eye(D), b_q=np.zeros(D),
                  W_k=-np.eye(D), b_k=np.zeros(D), W_v=params["W_v"] / 1500.0)  # values back to unit size, so
    # the output stays unit-sized and the FFN's mistakes (a GELU variant) stand out against the case's scale
    args = {"x": x, "params": params, "num_heads": H, "mask": mask}
    return Case("masked keys outscore", mistakes.OUTSCORED_ABOUT, "transformer_block", args, shapes=shapes_of(args),
                label=mistakes.OUTSCORED_LABEL)


def perf_case(seed):
    """A larger causal layer, for the speed comparison with the reference."""
    rng = np.random.default_rng([seed, 160, 1000])
    B, T, D, H = 4, 32, 64, 8
    args = {"x": _x(rng, (B, T, D), "offset"), "params": block_params(rng, D, 4 * D), "num_heads": H,
            "mask": inputs.causal_mask(T)}
    return Case("speed", _text("更大的因果解码层", "a larger causal decoder layer"), "transformer_block", args,
                shapes=shapes_of(args))


OUTPUT_VIEW = _text("解码层的输出", "the layer's output")


def error_map(case, name, got, expected):
    """|error| of the output per (batch, position, feature): the map shows the worst example's positions."""
    from mhaquiz.grader.heatmap import error_array

    return error_array(got, expected), ("axis.batch", "axis.position", "axis.feature"), OUTPUT_VIEW


# --- the PyTorch track --------------------------------------------------------------------------------------


ATTENTION_SCOPES = ("attn", "attention", "self_attn", "self_attention", "mha", "sa", "multi_head_attention",
                    "attn_layer", "self_attention_layer")
FFN_SCOPES = ("mlp", "ffn", "feed_forward", "feedforward", "ff", "ffn_layer", "mlp_block", "fc")
FFN_NAMES = {"1": ("c_fc", "fc1", "w1", "w_1", "linear1", "fc_in", "up_proj", "dense_h_to_4h", "up", "lin1", "ff1"),
             "2": ("c_proj", "fc2", "w2", "w_2", "linear2", "fc_out", "down_proj", "dense_4h_to_h", "down", "lin2",
                   "ff2")}
NORM_SCOPES = {"ln1": ("ln1", "ln_1", "norm1", "norm_1", "attn_norm", "attention_norm", "input_layernorm", "ln_attn",
                       "layernorm1", "layer_norm1", "pre_attn_norm", "norm_attn"),
               "ln2": ("ln2", "ln_2", "norm2", "norm_2", "ffn_norm", "mlp_norm", "post_attention_layernorm", "ln_mlp",
                       "layernorm2", "layer_norm2", "pre_ffn_norm", "norm_ffn")}


def _load_ffn(module, params, attention):
    """W_1 (D, F), b_1 and W_2 (F, D), b_2 into the FFN's two layers: by name inside the mlp / ffn submodule
    (or the block), else the one nn.Linear of weight shape (F, D) and the one of (D, F) outside the attention
    (nn.Sequential(nn.Linear, nn.GELU, nn.Linear) included)."""
    from torch import nn

    from mhaquiz.grader.torch_form import ParameterMismatch, _load_linear, _shapes, find_module, load_matrix

    D, F = params["W_1"].shape
    expected = [("mlp.fc1 (W_1)", (D, F)), ("mlp.fc2 (W_2)", (F, D))]
    scope = find_module(module, FFN_SCOPES) or module
    found = [load_matrix(scope, params[f"W_{n}"], params[f"b_{n}"], FFN_NAMES[n], f"W_{n}", expected,
                         bias_candidates=(f"b_{n}", f"b{n}")) for n in "12"]
    if all(found):
        return
    taken = {id(m) for m in attention.modules()} if attention is not None else set()
    for n, shape in (("1", (F, D)), ("2", (D, F))):
        layers = [m for m in scope.modules() if isinstance(m, nn.Linear) and id(m) not in taken
                  and tuple(m.weight.shape) == shape]
        if len(layers) != 1:
            raise ParameterMismatch(f"no layer for W_{n} (named {' / '.join(FFN_NAMES[n][:3])} ...)", expected,
                                    _shapes(module))
        _load_linear(layers[0], params[f"W_{n}"], params[f"b_{n}"], f"W_{n}", module, expected)


def load_block(module, params):
    """The case's parameters into the learner's TransformerBlock by name: the two LayerNorms (ln_1 / norm1 ...:
    weight / gamma, bias / beta), the attention's q, k, v, o projections (inside attn / self_attn when there is
    one, as mha_forward's names or a fused c_attn / qkv) and the FFN's two layers."""
    from mhaquiz.grader.torch_form import find_module, load_linears, load_norm

    for which in ("ln1", "ln2"):
        load_norm(module, NORM_SCOPES[which], params[f"{which}_gamma"], params[f"{which}_beta"], which)
    attention = find_module(module, ATTENTION_SCOPES)
    load_linears(attention if attention is not None else module, params)
    _load_ffn(module, params, attention)


def torch_call(namespace, args, case):
    """A PyTorch submission on a case: TransformerBlock(D, H, F, eps=params["eps"]) with the case's parameters
    loaded by name, called as block(x, mask=mask) (True = may attend)."""
    import torch

    from mhaquiz.grader.torch_form import build, tensor

    params = args["params"]
    D, F = params["W_1"].shape
    module = build(namespace, "TransformerBlock", D, args["num_heads"], F, eps=params["eps"])
    load_block(module, params)
    with torch.no_grad():
        return module(tensor(args["x"]), mask=tensor(args["mask"]))
