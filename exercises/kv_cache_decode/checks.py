"""Checks for kv_cache_decode: the driver feeds the tokens one at a time, as a decoder would.

Every case is one protocol run (`feed_tokens`): decode_step is called once per token, each call's returned
cache feeding the next, and the outputs are the stacked y_t (B, T, D) and the final cache. With an empty
start the stacked outputs equal the full causal mha_forward; with a prefilled cache (a prompt already
processed) they equal the causal mha_forward over prompt + new tokens, restricted to the new tokens.
"""

import numpy as np

from mhaquiz.grader import inputs, mistakes
from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()


def feed_tokens(namespace, args):
    """Call namespace.decode_step token by token; return the stacked outputs and the final cache."""
    x, params, num_heads = args["x"], args["params"], args["num_heads"]
    cache = None if args["cache"] is None else dict(args["cache"])  # the submission may update the dict it gets
    B, T, D = x.shape
    ys = []
    for t in range(T):
        step = namespace.decode_step(x[:, t:t + 1], cache, params, num_heads)  # x_t: (B, 1, D), a view
        if not (isinstance(step, tuple) and len(step) == 2):
            raise TypeError(f"decode_step must return (y_t, cache), got {type(step).__name__} (at step t={t})")
        y_t, cache = step
        if np.shape(y_t) != (B, 1, D):
            raise ValueError(f"decode_step returned y_t of shape {np.shape(y_t)}, expected (B, 1, D) = {(B, 1, D)} (at step t={t})")
        if not (isinstance(cache, dict) and "k" in cache and "v" in cache):
            raise TypeError(f"decode_step must return the cache as a dict with keys 'k' and 'v' (at step t={t})")
        ys.append(y_t)
    return {"out": np.concatenate(ys, axis=1), "cache_k": cache["k"], "cache_v": cache["v"]}  # (B, T, D), (B, H, P+T, dh)


def prompt_cache(prompt, params, num_heads):
    """The cache a prefill of `prompt` (B, P, D) leaves: projected keys and values split into heads."""
    B, P, D = prompt.shape

    def split(y):  # (B, P, D) -> (B, H, P, dh)
        return y.reshape(B, P, num_heads, D // num_heads).transpose(0, 2, 1, 3)

    return {"k": split(prompt @ params["W_k"] + params["b_k"]), "v": split(prompt @ params["W_v"] + params["b_v"])}


def _text(zh, en):
    return Text(zh=zh, en=en)


# name, label, what it exposes, (B, P prompt tokens, T new tokens, D, H), input scale
_CASES = (
    ("empty cache", _text("空缓存", "empty cache"),
     _text("从空缓存（None）开始解码：结果必须等于因果的 mha_forward",
           "decoding from an empty cache (None): must equal the causal mha_forward"), (2, 0, 6, 12, 3), 1.0),
    ("prefilled cache", _text("预填充的缓存", "prefilled cache"),
     _text("缓存里已有 4 个 prompt token：第一步就有过去的 key 可看",
           "a 4-token prompt already cached: the first step has past keys to attend to"), (2, 4, 5, 8, 2), 1.0),
    ("many heads", _text("更多的头", "many heads"),
     _text("H = 4，prompt 更长，三个新 token", "H = 4, a longer prompt, three new tokens"), (3, 7, 3, 16, 4), 1.0),
    ("large logits", _text("大 logits", "large logits"),
     _text("输入乘 100：softmax 不减最大值就会溢出", "inputs x100: a softmax without max-subtraction overflows"),
     (2, 3, 4, 8, 2), 100.0),
)


def make_cases(seed):
    cases = []
    for index, (name, label, about, (B, P, T, D, H), scale) in enumerate(_CASES):
        rng = np.random.default_rng([seed, 80, index])
        params = inputs.mha_params(rng, D)
        prompt = scale * rng.standard_normal((B, P, D))
        x = scale * rng.standard_normal((B, T, D))
        cache = prompt_cache(prompt, params, H) if P else None
        args = {"x": x, "cache": cache, "params": params, "num_heads": H}
        cases.append(Case(name, about, "decode_step", args, shapes=f"B={B} cached={P} T={T} D={D} H={H}",
                          driver=feed_tokens, label=label))
    return cases


# --- mistakes particular to decoding with a cache -------------------------------------------------------

def _replace_cache(ref):
    def append_to_cache(cache, K_t, V_t):
        return {"k": K_t, "v": V_t}  # wrong: the past is thrown away; the token attends to itself only

    return append_to_cache


def _prepend_to_cache(ref):
    def append_to_cache(cache, K_t, V_t):
        if cache is None:
            return {"k": K_t, "v": V_t}
        return {"k": np.concatenate([K_t, cache["k"]], axis=2), "v": np.concatenate([V_t, cache["v"]], axis=2)}

    return append_to_cache


def _append_after_attending(ref):
    def decode_step(x_t, cache, params, num_heads):
        Q = ref.split_heads(x_t @ params["W_q"] + params["b_q"], num_heads)
        K_t = ref.split_heads(x_t @ params["W_k"] + params["b_k"], num_heads)
        V_t = ref.split_heads(x_t @ params["W_v"] + params["b_v"], num_heads)
        P = ref.attention_weights(Q, cache["k"])  # wrong: the token does not see itself (fails on an empty cache)
        y = ref.merge_heads(P @ cache["v"]) @ params["W_o"] + params["b_o"]
        return y, ref.append_to_cache(cache, K_t, V_t)

    return decode_step


def _causal_mask_in_step(ref):
    def attention_weights(Q, K, mask=None):
        Tq, Tk = Q.shape[-2], K.shape[-2]
        return ref.attention_weights(Q, K, np.tril(np.ones((Tq, Tk), dtype=bool)))  # (1, Tk): only key 0 survives

    return attention_weights


DECODE = (
    Mutant("cache_not_appended",
           Text(zh="缓存被替换了，而不是追加：每个 token 只看得到自己",
                en="cache replaced instead of appended to: each token attends to itself only"),
           patch={"append_to_cache": _replace_cache}, related=("eff-kv-cache-why",)),
    Mutant("append_after_attending",
           Text(zh="先做注意力、再把新的 key/value 追加进缓存：当前 token 看不到自己（差一位）",
                en="new key/value appended after attending: the token cannot see itself (off by one)"),
           patch={"decode_step": _append_after_attending}, related=("eff-kv-cache-why", "mask-off-by-one")),
    Mutant("cache_prepended",
           Text(zh="新的 key/value 加在了缓存的最前面：缓存成了按时间倒序",
                en="new key/value prepended: the cache is in reverse time order"),
           patch={"append_to_cache": _prepend_to_cache}, related=("eff-kv-cache-why",)),
    Mutant("causal_mask_in_step",
           Text(zh="在单步 (1, t+1) 的分数上套了 np.tril 因果 mask：只看得到第一个 key",
                en="np.tril causal mask applied to the (1, t+1) step scores: only the first key is seen"),
           patch={"attention_weights": _causal_mask_in_step}, related=("inf-chunk-mask", "mask-causal-construction")),
)

_FORWARD_USED = ("no_scale", "scale_by_d_model", "scale_by_d_head", "softmax_over_queries", "no_max_subtraction",
                 "heads_interleaved", "biases_ignored", "weights_transposed")
MUTANTS = DECODE + mistakes.pick(*_FORWARD_USED, "no_output_projection")


def perf_case(seed):
    """A longer decode from an empty cache, for the speed comparison with the reference."""
    rng = np.random.default_rng([seed, 80, 1000])
    B, T, D, H = 4, 16, 64, 8
    args = {"x": rng.standard_normal((B, T, D)), "cache": None, "params": inputs.mha_params(rng, D), "num_heads": H}
    about = Text(zh="从空缓存开始解码 16 步", en="16 decoding steps from an empty cache")
    return Case("speed", about, "decode_step", args, shapes=f"B={B} T={T} D={D} H={H}", driver=feed_tokens)


# --- the PyTorch track --------------------------------------------------------------------------------------



def torch_call(namespace, args, case):
    """A PyTorch submission on a case, the protocol of feed_tokens: CachedAttention(D, H) with the case's weights
    loaded by name, called token by token on one KVCache (empty, or prefilled with the prompt's keys and values);
    the stacked y_t and the final cache.k, cache.v."""
    import torch

    from mhaquiz.grader.torch_form import build, load_linears, tensor

    x = tensor(args["x"])  # (B, T, D)
    B, T, D = x.shape
    prefill = args["cache"]
    cache = namespace.KVCache() if prefill is None else namespace.KVCache(tensor(prefill["k"]), tensor(prefill["v"]))
    module = build(namespace, "CachedAttention", D, args["num_heads"])
    load_linears(module, args["params"])
    ys = []
    with torch.no_grad():
        for t in range(T):
            y_t = module(x[:, t:t + 1], cache)  # x_t: (B, 1, D)
            if not isinstance(y_t, torch.Tensor) or tuple(y_t.shape) != (B, 1, D):
                shape = tuple(y_t.shape) if isinstance(y_t, torch.Tensor) else type(y_t).__name__
                raise ValueError(f"CachedAttention.forward returned {shape}, expected a tensor of shape (B, 1, D) = "
                                 f"{(B, 1, D)} (at step t={t})")
            ys.append(y_t)
    if not all(isinstance(getattr(cache, name, None), torch.Tensor) for name in ("k", "v")):
        raise TypeError("after decoding, cache.k and cache.v must be the cached keys and values, (B, H, t, dh) tensors")
    return {"out": torch.cat(ys, dim=1), "cache_k": cache.k, "cache_v": cache.v}  # (B, T, D), (B, H, P+T, dh)
