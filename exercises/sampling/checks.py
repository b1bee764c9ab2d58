"""Checks for sampling: temperature, top-k and top-p with the uniform draws given, so the token drawn is exact.

Every case is one call sample(logits, u, temperature, top_k, top_p) returning {"tokens", "probs"}, made through
the driver call_sample (the token ids are compared as float64 numbers, so any integer dtype passes). Ties are
exact: equal logits give equal probabilities, and rows of logits 0 beside logits of -1000 (whose exp is exactly
0) give probabilities 1/4 and 1/8, so a top_p of 0.5 and a draw of 0.5 or 0.75 sit exactly on cumulative values.
Elsewhere each draw is kept at least 1e-3 away from every cumulative value of the right answer, so rounding
never decides it.
"""

import numpy as np

from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()
OUTPUTS = ("tokens", "probs")
MARGIN = 1e-3


def _text(zh, en):
    return Text(zh=zh, en=en)


def call_sample(namespace, args):
    """One call of sample; the token ids as float64 on both sides."""
    result = namespace.sample(*args.values())
    if not isinstance(result, dict):
        raise TypeError(f"sample must return a dict with keys 'tokens' and 'probs', got {type(result).__name__}")
    outputs = dict(result)
    tokens = outputs.get("tokens")
    if tokens is not None and np.asarray(tokens).dtype.kind in "iu":
        outputs["tokens"] = np.asarray(tokens).astype(np.float64)  # any integer dtype is fine
    return outputs


# --- the cases -----------------------------------------------------------------------------------------------

def _final_sorted(logits, temperature, top_k, top_p):
    """The right final distribution in rank order (a plain restatement, used only to place the draws)."""
    z = logits / temperature
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    p = np.take_along_axis(p, np.argsort(-p, axis=-1, kind="stable"), axis=-1)
    keep = np.ones(p.shape, dtype=bool)
    if top_k is not None:
        keep[:, top_k:] = False
        p = np.where(keep, p, 0.0) / np.where(keep, p, 0.0).sum(axis=-1, keepdims=True)
    if top_p is not None:
        keep[:, 1:] &= np.cumsum(p, axis=-1)[:, :-1] < top_p
    q = np.where(keep, p, 0.0)
    return q / q.sum(axis=-1, keepdims=True)


def _clear_draws(rng, logits, temperature, top_k, top_p):
    """Uniform draws moved at least MARGIN away from every cumulative value of the right distribution."""
    cdf = np.cumsum(_final_sorted(logits, temperature, top_k, top_p), axis=-1)
    u = rng.uniform(0.02, 0.98, logits.shape[0])
    for n in range(len(u)):
        while np.abs(cdf[n] - u[n]).min() < MARGIN:
            u[n] = (u[n] + 0.37) % 0.96 + 0.02
    return u


def _plain(scale, N, V):
    def build(rng):
        return scale * rng.standard_normal((N, V))

    return build


def _tied_at_top_k(rng):
    """Row 0: the 5th and 6th most probable tokens share one logit, so top-k 5 must choose the lower id."""
    logits = 1.5 * rng.standard_normal((3, 10))
    ranked = np.argsort(-logits[0])
    fifth, sixth = ranked[4], ranked[5]
    logits[0, sixth] = logits[0, fifth]
    return logits


def _dyadic_ties(rng):
    """Row 0: four tokens of logit 0 (probability 1/4 each), row 1: eight (1/8 each); the rest -1000 (exactly 0)."""
    logits = np.full((2, 10), -1000.0)
    logits[0, np.sort(rng.choice(10, 4, replace=False))] = 0.0
    logits[1, np.sort(rng.choice(10, 8, replace=False))] = 0.0
    return logits


def _tied_max(rng):
    """Row 0: two tokens share the largest logit."""
    logits = 2.0 * rng.standard_normal((3, 8))
    a, b = np.sort(rng.choice(8, 2, replace=False))
    logits[0, a] = logits[0, b] = logits[0].max() + 1.0
    return logits


def _dominant(rng):
    """Every row has one token of probability about 0.6 or more: it alone reaches top_p = 0.3."""
    logits = rng.standard_normal((3, 9))
    logits[np.arange(3), rng.choice(9, 3)] += 4.0
    return logits


def _large(rng):
    return 1000.0 + 3.0 * rng.standard_normal((3, 11))


# name, label, what it exposes, logits builder, temperature, top_k, top_p, draws (None: placed clear of boundaries)
SPECS = (
    ("temperature and top-p", _text("温度与 top-p", "temperature and top-p"),
     _text("T = 0.7、top_p = 0.9、没有 top-k：温度必须在 softmax 之前除到 logits 上，top-p 看的是归一化后的累计概率",
           "T = 0.7, top_p = 0.9, no top-k: the temperature divides the logits before the softmax, and top-p reads "
           "the cumulative probability of a normalised distribution"),
     _plain(2.0, 4, 12), 0.7, None, 0.9, None),
    ("top-k with a tie", _text("top-k 边界上的并列", "top-k with a tie"),
     _text("T = 1.5、top_k = 5：第 0 行的第 5、6 名 logits 相同，保留 id 小的那个；k 多一个或少一个都会变",
           "T = 1.5, top_k = 5: row 0's 5th and 6th tokens share a logit and the lower id is kept; one token more "
           "or fewer changes the result"), _tied_at_top_k, 1.5, 5, None, None),
    ("top-k then top-p", _text("先 top-k 再 top-p", "top-k then top-p"),
     _text("T = 0.8、top_k = 6、top_p = 0.75：top-p 作用在 top-k 重新归一化之后的分布上；顺序反了或不归一化，保留的集合就不同",
           "T = 0.8, top_k = 6, top_p = 0.75: top-p acts on the distribution renormalised after top-k; the other "
           "order, or no renormalisation, keeps another set"), _plain(1.5, 4, 16), 0.8, 6, 0.75, None),
    ("p on a cumulative value", _text("p 恰好等于累计概率", "p on a cumulative value"),
     _text("概率恰为 1/4、1/8 的并列 token，top_p = 0.5 恰好等于累计值：累计到 0.5 的那个 token 保留、之后的不保留；"
           "u = 0.5、0.75 也恰好落在累计值上，取第一个累计概率严格大于 u 的",
           "tied tokens of probability exactly 1/4 and 1/8, top_p = 0.5 exactly a cumulative value: the token "
           "reaching 0.5 is kept, the next is not; u = 0.5 and 0.75 sit exactly on cumulative values too, and the "
           "first cumulative probability strictly above u is taken"),
     _dyadic_ties, 0.5, None, 0.5, (0.5, 0.75)),
    ("greedy with a tied max", _text("贪心，最大值并列", "greedy with a tied max"),
     _text("top_k = 1 就是贪心解码：第 0 行有两个 token 并列最大，选 id 小的",
           "top_k = 1 is greedy decoding: row 0 has two tokens tied for the max, and the lower id is chosen"),
     _tied_max, 1.0, 1, None, None),
    ("one token reaches p", _text("一个 token 就够 p", "one token reaches p"),
     _text("top_p = 0.3，每行最大的概率都超过 0.3：只保留这一个 token（把越过 p 的 token 也去掉就一个都不剩）",
           "top_p = 0.3 and every row's largest probability exceeds it: that token alone is kept (dropping the "
           "token that crosses p leaves nothing)"), _dominant, 1.2, None, 0.3, None),
    ("large logits", _text("很大的 logits", "large logits"),
     _text("logits 约为 1000，T = 0.5（除完约 2000）：softmax 不减最大值就溢出",
           "logits around 1000 with T = 0.5 (about 2000 once divided): a softmax without the max subtracted "
           "overflows"), _large, 0.5, None, 0.95, None),
)


def make_cases(seed):
    cases = []
    for index, (name, label, about, build, temperature, top_k, top_p, draws) in enumerate(SPECS):
        rng = np.random.default_rng([seed, 210, index])
        logits = build(rng)
        u = np.array(draws, dtype=np.float64) if draws is not None else \
            _clear_draws(rng, logits, temperature, top_k, top_p)
        args = {"logits": logits, "u": u, "temperature": temperature, "top_k": top_k, "top_p": top_p}
        cases.append(Case(name, about, "sample", args, label=label, output_names=OUTPUTS, driver=call_sample,
                          shapes=f"logits {logits.shape}, T={temperature:g}, top_k={top_k}, top_p={top_p}"))
    return cases


def perf_case(seed):
    """A batch of 32 rows over a 4096-token vocabulary, top-k 50 and top-p 0.9, for the speed comparison."""
    rng = np.random.default_rng([seed, 210, 1000])
    return Case("speed", _text("32 行、词表 4096、top-k 50、top-p 0.9", "32 rows, a 4096-token vocabulary, top-k 50, top-p 0.9"),
                "sample", {"logits": 3.0 * rng.standard_normal((32, 4096)), "u": rng.random(32), "temperature": 0.8,
                           "top_k": 50, "top_p": 0.9}, output_names=OUTPUTS, driver=call_sample,
                shapes="logits (32, 4096), T=0.8, top_k=50, top_p=0.9")


# --- the classic mistakes ------------------------------------------------------------------------------------

def _temperature(rule):
    def make(ref):
        def apply_temperature(logits, temperature):
            return rule(ref, logits, temperature)

        return apply_temperature

    return make


def _naive_softmax(ref):
    def softmax(z):
        e = np.exp(z)  # inf above 709: inf / inf = NaN
        return e / e.sum(axis=-1, keepdims=True)

    return softmax


def _top_p(rule):
    def make(ref):
        def top_p_mask(sorted_probs, p):
            return rule(np.cumsum(sorted_probs, axis=-1), sorted_probs, p)

        return top_p_mask

    return make


def _top_k(shift):
    return lambda ref: lambda sorted_probs, k: np.arange(sorted_probs.shape[-1]) < k + shift


def _filter():
    """Top-p on the full distribution (the same, whether before top-k or after it without renormalising)."""

    def make(ref):
        def filter_sorted(sorted_probs, top_k, top_p):
            keep = np.ones(sorted_probs.shape, dtype=bool)
            if top_p is not None:
                keep = keep & ref.top_p_mask(sorted_probs, top_p)
            if top_k is not None:
                keep = keep & ref.top_k_mask(sorted_probs, top_k)
            return keep, sorted_probs

        return filter_sorted

    return make


def _non_strict_draw(ref):
    def inverse_cdf(sorted_q, u):
        cdf = np.cumsum(sorted_q, axis=-1)
        rank = (cdf < u[:, None]).sum(axis=-1)  # the first cumulative value >= u
        return np.minimum(rank, (sorted_q > 0).sum(axis=-1) - 1)

    return inverse_cdf


def _drawn_in_vocabulary_order(outputs, case):
    """The inverse CDF taken over the final distribution in token-id order instead of in rank order."""
    probs, u = outputs["probs"], case.args["u"]
    with np.errstate(invalid="ignore"):
        rank = (np.cumsum(probs, axis=-1) <= u[:, None]).sum(axis=-1)
    last_positive = probs.shape[-1] - 1 - np.argmax((probs > 0)[:, ::-1], axis=-1)
    return {**outputs, "tokens": np.minimum(rank, last_positive).astype(np.float64)}


_TEMPERATURE = ("dec-temperature-prob", "dec-temperature-claims")
_RANKING = ("dec-top-k-vs-top-p", "dec-top-p-bugs")
_NUCLEUS = ("dec-top-p-bugs", "dec-nucleus-size", "dec-top-k-vs-top-p")

MUTANTS = (
    Mutant("temperature_power_after_softmax",
           _text("温度放在了 softmax 之后：p ** (1/T) 却没有重新归一化（应为 softmax(logits / T)）",
                 "temperature applied after the softmax: p ** (1/T) without renormalising (it is softmax(logits / T))"),
           patch={"apply_temperature": _temperature(lambda ref, z, T: ref.softmax(z) ** (1.0 / T))},
           related=_TEMPERATURE),
    Mutant("temperature_divides_probabilities",
           _text("温度除在了概率上：p / T，应除在 logits 上再做 softmax",
                 "the temperature divides the probabilities, p / T, instead of the logits before the softmax"),
           patch={"apply_temperature": _temperature(lambda ref, z, T: ref.softmax(z) / T)}, related=_TEMPERATURE),
    Mutant("temperature_multiplies_logits",
           _text("logits 乘了 T：应除以 T（T < 1 更尖锐，T > 1 更平坦）",
                 "logits multiplied by T instead of divided (T < 1 sharpens, T > 1 flattens)"),
           patch={"apply_temperature": _temperature(lambda ref, z, T: ref.softmax(z * T))}, related=_TEMPERATURE),
    Mutant("temperature_ignored", _text("没有用温度", "temperature ignored"),
           patch={"apply_temperature": _temperature(lambda ref, z, T: ref.softmax(z))}, related=_TEMPERATURE),
    Mutant("softmax_overflow",
           _text("softmax 没有先减最大值：logits / T 超过 709 时 exp 溢出，得到 NaN",
                 "softmax without subtracting the max: when logits / T exceed 709, exp overflows to NaN"),
           patch={"softmax": _naive_softmax}, related=("bw-softmax-max-subtraction",)),
    Mutant("sorted_ascending",
           _text("按概率升序排了（np.argsort 默认升序）：top-k、top-p 保留的是最不可能的 token",
                 "sorted ascending (np.argsort's default): top-k and top-p keep the least likely tokens"),
           patch={"sort_descending": lambda ref: lambda probs: np.argsort(probs, axis=-1, kind="stable")},
           related=_RANKING),
    Mutant("ties_to_higher_id",
           _text("概率相等时 id 大的排在前面（把升序 argsort 倒过来）：约定是 id 小的在前",
                 "equal probabilities rank the higher id first (an ascending argsort reversed): the lower id goes "
                 "first"),
           patch={"sort_descending": lambda ref: lambda probs: np.argsort(probs, axis=-1, kind="stable")[:, ::-1]},
           related=_RANKING),
    Mutant("not_mapped_back",
           _text("排序后没有映射回 token id：返回的是名次，分布也还是排序后的顺序",
                 "sorted but not mapped back to token ids: the rank is returned, and the distribution stays in rank "
                 "order"),
           patch={"to_token_ids": lambda ref: lambda order, rank: rank,
                  "unsort": lambda ref: lambda sorted_q, order: sorted_q}, related=_RANKING),
    Mutant("top_k_keeps_one_more", _text("top-k 多保留了一个（保留了 k + 1 个）", "top-k keeps one token too many (k + 1)"),
           patch={"top_k_mask": _top_k(1)}, related=_RANKING),
    Mutant("top_k_keeps_one_fewer",
           _text("top-k 少保留了一个（k − 1 个；k = 1 时一个不剩，0/0 = NaN）",
                 "top-k keeps one token too few (k - 1; none when k = 1, and 0/0 = NaN)"),
           patch={"top_k_mask": _top_k(-1)}, related=_RANKING),
    Mutant("top_p_strict",
           _text("top-p 用了严格不等号：保留了累计概率 > p 的最小集合，累计恰好等于 p 时多留了一个",
                 "top-p with a strict inequality: the smallest set whose cumulative probability is > p, one token too "
                 "many when it hits p exactly"),
           patch={"top_p_mask": _top_p(lambda cdf, p_sorted, p: (cdf - p_sorted) <= p)}, related=_NUCLEUS),
    Mutant("top_p_drops_crossing_token",
           _text("top-p 把越过 p 的那个 token 也去掉了（mask = cumsum > p，没有右移一位）：少留一个，甚至一个不剩",
                 "top-p drops the token that crosses p (mask = cumsum > p without shifting it right by one): one token "
                 "too few, or none at all"),
           patch={"top_p_mask": _top_p(lambda cdf, p_sorted, p: cdf <= p)}, related=_NUCLEUS),
    Mutant("no_renormalisation",
           _text("过滤之后没有重新归一化：保留的概率之和小于 1", "no renormalisation after filtering: the kept "
                 "probabilities sum to less than 1"),
           patch={"renormalise": lambda ref: lambda sorted_probs, keep: np.where(keep, sorted_probs, 0.0)},
           related=_NUCLEUS),
    Mutant("top_p_before_top_k",
           _text("top-p 用的是 top-k 之前的分布（先做了 top-p，或 top-k 之后没有重新归一化）：约定是先 top-k，"
                 "重新归一化，再累计到 p",
                 "top-p measured on the distribution before top-k (top-p done first, or top-k not renormalised): "
                 "the order is top-k, renormalise, then accumulate to p"),
           patch={"filter_sorted": _filter()}, related=_NUCLEUS),
    Mutant("draw_non_strict",
           _text("取了第一个累计概率 >= u 的 token：应取第一个 > u 的（u 恰好落在累计值上时差一个）",
                 "the first token whose cumulative probability is >= u: it is the first > u (they differ when u "
                 "sits exactly on a cumulative value)"), patch={"inverse_cdf": _non_strict_draw}, related=_RANKING),
    Mutant("drawn_in_vocabulary_order",
           _text("逆 CDF 按 token id 的顺序累计：约定按排序后的顺序（概率从大到小）累计",
                 "the inverse CDF accumulated in token-id order: the convention accumulates in rank order (most "
                 "probable first)"), transform=_drawn_in_vocabulary_order, related=_RANKING),
)


# --- the heat map --------------------------------------------------------------------------------------------

def error_map(case, name, got, expected):
    """probs: |error| per row and token id; the tokens as they are."""
    if name != "probs" or np.shape(got) != np.shape(expected):
        return None
    errors = np.abs(np.asarray(got, dtype=np.float64) - expected)
    return errors, ("axis.row", "axis.vocab"), _text("最终分布的 |误差|，按行和 token id", "|error| of the final distribution per row and token id")


# --- the PyTorch track --------------------------------------------------------------------------------------



def torch_call(namespace, args, case):
    """A PyTorch submission on a case: sample(...) on float64 tensors, its dict back as arrays through the
    NumPy track's driver (the token ids compared as float64 numbers)."""
    from types import SimpleNamespace

    from mhaquiz.grader.torch_form import tensor, to_numpy

    def sample(*values):
        return to_numpy(namespace.sample(*(tensor(value) for value in values)))

    return call_sample(SimpleNamespace(sample=sample), args)
