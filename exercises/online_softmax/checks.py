"""Checks for online_softmax: where the row max sits (first block, later block), ragged last blocks, block
sizes 1 and >= N, large logits and -inf entries (a whole block of them included).

The outputs are p (..., N), m (...,) and l (...,): a wrong running max shows in m, a wrong rescaling in l
(and p), a wrong second pass in p alone.
"""

import numpy as np

from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()
OUTPUTS = ("p", "m", "l")


# --- the classic mistakes, as edits of the reference's helpers ------------------------------------------

def _sum_not_rescaled(ref):
    def rescale(m_old, m_new):
        return np.ones_like(m_new)  # the old sum stays relative to the old max

    return rescale


def _rescale_sign_flipped(ref):
    def rescale(m_old, m_new):
        # exp(m_new - m_old) >= 1 instead of exp(m_old - m_new) <= 1 (0 while nothing has been summed)
        return np.where(np.isneginf(m_old), 0.0, np.exp(ref.safe_max(m_new) - m_old))

    return rescale


def _block_max_only(ref):
    def update(m, l, x_block):
        m_new = x_block.max(axis=-1)  # wrong: the block's own max, not max(m, block max)
        return m_new, l * ref.rescale(m, m_new) + ref.block_sum(x_block, m_new)

    return update


def _per_block_normalisation(ref):
    def online_softmax(x, block_size):
        N = x.shape[-1]
        m, l = np.full(x.shape[:-1], -np.inf), np.zeros(x.shape[:-1])
        blocks = []
        for start in range(0, N, block_size):
            block = x[..., start:start + block_size]
            m, l = ref.update(m, l, block)
            e = np.exp(block - block.max(axis=-1, keepdims=True))
            blocks.append(e / e.sum(axis=-1, keepdims=True))  # wrong: each block sums to 1 on its own
        return np.concatenate(blocks, axis=-1), m, l

    return online_softmax


def _running_stats_for_p(ref):
    def online_softmax(x, block_size):
        N = x.shape[-1]
        m, l = np.full(x.shape[:-1], -np.inf), np.zeros(x.shape[:-1])
        blocks = []
        for start in range(0, N, block_size):
            block = x[..., start:start + block_size]
            m, l = ref.update(m, l, block)
            blocks.append(ref.normalise(block, m, l))  # wrong: m, l so far, not the row's final ones
        return np.concatenate(blocks, axis=-1), m, l

    return online_softmax


def _neg_inf_block_nan(ref):
    def safe_max(m):
        return m  # a row that has seen only -inf computes exp(-inf - (-inf)) = NaN

    return safe_max


_ONLINE = ("eff-flashattention",)
MUTANTS = (
    Mutant("sum_not_rescaled",
           Text(zh="最大值变大时，旧的累加和 l 没有乘 exp(m_old - m_new)：它还是相对旧最大值算的",
                en="the running sum l not multiplied by exp(m_old - m_new) when the max grows: it stays relative "
                   "to the old max"),
           patch={"rescale": _sum_not_rescaled}, related=_ONLINE + ("bw-softmax-max-subtraction",)),
    Mutant("rescale_sign_flipped",
           Text(zh="缩放因子的符号反了：乘的是 exp(m_new - m_old) >= 1，应为 exp(m_old - m_new) <= 1",
                en="the rescaling factor's sign flipped: exp(m_new - m_old) >= 1 instead of exp(m_old - m_new) <= 1"),
           patch={"rescale": _rescale_sign_flipped}, related=_ONLINE),
    Mutant("block_max_only",
           Text(zh="m 只取了当前块的最大值（最后得到最后一块的最大值），而不是 max(m, 块最大值)",
                en="m set to the current block's max (ending as the last block's max) instead of max(m, block max)"),
           patch={"update": _block_max_only}, related=_ONLINE + ("bw-softmax-max-subtraction",)),
    Mutant("per_block_normalisation",
           Text(zh="每一块单独做了 softmax（块内和为 1），而不是用整行最终的 m 和 l 归一化",
                en="each block normalised on its own (summing to 1 within the block) instead of with the row's final "
                   "m and l"),
           patch={"online_softmax": _per_block_normalisation}, related=_ONLINE),
    Mutant("running_stats_for_p",
           Text(zh="在循环里就用当时的 m 和 l 算出这一块的 p：前面的块没有用到后面才出现的最大值和总和（少了第二遍）",
                en="each block's p computed inside the loop with the m and l seen so far: earlier blocks miss the "
                   "max and sum that come later (the second pass is missing)"),
           patch={"online_softmax": _running_stats_for_p}, related=_ONLINE),
    Mutant("neg_inf_block_nan",
           Text(zh="一行开头的块全是 -inf 时算了 exp(-inf - (-inf)) = NaN：还没见到有限值时应减 0",
                en="a row whose first block is all -inf computes exp(-inf - (-inf)) = NaN: subtract 0 until a finite "
                   "value has been seen"),
           patch={"safe_max": _neg_inf_block_nan}, related=("mask-fully-masked-row",) + _ONLINE),
)


# --- the cases ------------------------------------------------------------------------------------------

def _text(zh, en):
    return Text(zh=zh, en=en)


def _max_in_a_later_block(rng):
    x = rng.standard_normal((4, 10)) + 0.6 * np.arange(10)  # rising rows: the max keeps moving right
    x[3, 5] = x[3].max() + 1.5  # one row's max in the middle block
    return x


def _max_in_the_first_block(rng):
    x = rng.standard_normal((3, 9)) - 0.4 * np.arange(9)
    x[:, 1] = x.max(axis=1) + 1.0  # every row's max at column 1: the running max never changes after block 1
    return x


def _neg_inf_entries(rng):
    x = rng.standard_normal((4, 9)) + 0.5 * np.arange(9)
    x[0, 0:3] = -np.inf  # the whole first block: m stays -inf, l = 0 until block 2
    x[1, [1, 4, 8]] = -np.inf  # scattered
    x[2, 6:9] = -np.inf  # the whole last block
    x[3, 3:6] = -np.inf  # the whole middle block
    return x


# name, label, what it exposes, x (from rng), block_size
_CASES = (
    ("max in a later block", _text("最大值在后面的块", "max in a later block"),
     _text("每行的最大值出现在后面的块里：m 变大时必须把旧的 l 乘上 exp(m_old - m_new)；N = 10，块大小 4（4 + 4 + 2）",
           "each row's max appears in a later block: when m grows the old l must be multiplied by exp(m_old - m_new); "
           "N = 10, block 4 (4 + 4 + 2)"),
     _max_in_a_later_block, 4),
    ("max in the first block", _text("最大值在第一块", "max in the first block"),
     _text("每行的最大值都在第一块：m 之后不再变化，缩放写错也看不出来，但最后一块的最大值不是整行的最大值",
           "every row's max is in the first block: m never changes afterwards, so a wrong rescaling cannot show, but the "
           "last block's max is not the row's"),
     _max_in_the_first_block, 4),
    ("3-D, ragged last block", _text("三维，最后一块不满", "3-D, ragged last block"),
     _text("x 形状 (2, 3, 7)，块大小 3：最后一块只有 1 列；m、l 的形状是 (2, 3)",
           "x of shape (2, 3, 7), block 3: the last block has 1 column; m and l have shape (2, 3)"),
     lambda rng: rng.standard_normal((2, 3, 7)) + 0.3 * np.arange(7), 3),
    ("block size 1", _text("块大小 1", "block size 1"),
     _text("一次一个元素：正是 Milakov & Gimelshein 的 Algorithm 3", "one element at a time: exactly Milakov & "
           "Gimelshein's Algorithm 3"),
     lambda rng: rng.standard_normal((3, 6)) + 0.4 * np.arange(6), 1),
    ("block larger than N", _text("块比 N 大", "block larger than N"),
     _text("块大小 8 > N = 5：只有一块，就是普通的 softmax", "block 8 > N = 5: a single block, plain softmax"),
     lambda rng: rng.standard_normal((3, 5)), 8),
    ("large logits", _text("大 logits", "large logits"),
     _text("x 约为 1000：不减最大值 exp 就会溢出", "x around 1000: exp overflows without subtracting the max"),
     lambda rng: 1000.0 + 2.0 * rng.standard_normal((3, 11)) + 0.3 * np.arange(11), 4),
    ("-inf entries", _text("-inf 元素", "-inf entries"),
     _text("有 -inf 的行：第一块全是 -inf、零散的 -inf、最后一块全是 -inf、中间一块全是 -inf；没有整行都是 -inf 的",
           "rows with -inf: a whole first block, scattered entries, a whole last block, a whole middle block; no row is "
           "-inf everywhere"),
     _neg_inf_entries, 3),
)


def make_cases(seed):
    cases = []
    for index, (name, label, about, make_x, block_size) in enumerate(_CASES):
        x = make_x(np.random.default_rng([seed, 150, index]))
        cases.append(Case(name, about, "online_softmax", {"x": x, "block_size": block_size},
                          shapes=f"x {x.shape}, block_size={block_size}", output_names=OUTPUTS, label=label))
    return cases


def perf_case(seed):
    """(64, 512) rows in blocks of 64, for the speed comparison with the reference."""
    x = np.random.default_rng([seed, 150, 1000]).standard_normal((64, 512))
    about = Text(zh="64 行，每行 512 列，块大小 64", en="64 rows of 512 columns, block 64")
    return Case("speed", about, "online_softmax", {"x": x, "block_size": 64}, shapes="x (64, 512), block_size=64",
                output_names=OUTPUTS)


# --- the PyTorch track --------------------------------------------------------------------------------------



def torch_call(namespace, args, case):
    """A PyTorch submission on a case: online_softmax(x, block_size) on a float64 tensor; (p, m, l)."""
    from mhaquiz.grader.torch_form import tensor

    return namespace.online_softmax(tensor(args["x"]), args["block_size"])
