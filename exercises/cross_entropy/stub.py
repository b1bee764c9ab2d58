"""因果语言模型的损失（下一个 token 的交叉熵），用 NumPy 实现（float64）/ The causal language-model loss
(next-token cross-entropy), in NumPy (float64).

【中文】约定：
- logits：(B, T, V) float64；tokens：(B, T) int64，就是序列本身（像 Hugging Face 的 labels = input_ids），
  还没有错位。ignore_index：一个整数，等于它的目标不计入损失（padding、被遮住的 prompt）。
- 错位一位：位置 t 的 logits 预测的是下一个 token tokens[:, t+1]，即 logits[:, :-1] 对 tokens[:, 1:]。
  最后一个位置不预测任何东西；tokens[:, 0] 从来不是目标。
- 一个预测的 NLL = -log softmax(logits[b, t])[tokens[b, t+1]] = logsumexp(logits[b, t]) - logits[b, t, 目标]。
- loss = 所有计入的目标的 NLL 之和 / N，N 是整个 batch 中计入的目标数（PyTorch F.cross_entropy 的
  reduction='mean' 加 ignore_index：只在未被忽略的目标上取平均）。不是除以全部位置，也不是先按序列平均再平均。
- perplexity = exp(loss)。
- d_logits = d loss / d logits，形状 (B, T, V)：计入的目标处为 (softmax(logits[b, t]) - one_hot(目标)) / N；
  最后一个位置和被忽略的目标处整行为 0。
- ignore_index 可以是任何整数，包括合法的类别下标（pad id 0）和 -1：不要把它当下标用。
- 必须数值稳定：有 logits 约为 1000 的用例（用 log-sum-exp）。每个评测用例至少有一个目标计入。
- 返回 dict：{"loss": 0 维数组, "perplexity": 0 维数组, "d_logits": (B, T, V)}（标量也可以是 NumPy 标量或
  Python float）。全程 float64。
  不要修改输入。不需要 Python 循环。

[English] Conventions:
- logits: (B, T, V) float64; tokens: (B, T) int64, the sequence itself (like Hugging Face's labels =
  input_ids), not shifted yet. ignore_index: an int; targets equal to it do not count (padding, a masked prompt).
- The shift by one: the logits at position t predict the NEXT token tokens[:, t+1], i.e. logits[:, :-1]
  against tokens[:, 1:]. The last position predicts nothing; tokens[:, 0] is never a target.
- NLL of one prediction = -log softmax(logits[b, t])[tokens[b, t+1]] = logsumexp(logits[b, t]) - logits[b, t, target].
- loss = the sum of the NLL of the counted targets / N, N = the number of counted targets in the whole batch
  (PyTorch's F.cross_entropy with reduction='mean' and ignore_index: averaged over the non-ignored targets).
  Not divided by all positions, not a mean per sequence then averaged.
- perplexity = exp(loss).
- d_logits = d loss / d logits, shape (B, T, V): (softmax(logits[b, t]) - one_hot(target)) / N at counted
  targets; rows of 0 at the last position and at ignored targets.
- ignore_index can be any int, a valid class index (pad id 0) or -1 included: never use it as an index.
- Must be numerically stable: some logits are around 1000 (use log-sum-exp). Every graded case counts at least
  one target.
- Return a dict {"loss": 0-d array, "perplexity": 0-d array, "d_logits": (B, T, V)} (the scalars may also be
  NumPy scalars or Python floats). float64 throughout. Do not modify the inputs. No Python loops needed.
"""

import numpy as np


def lm_loss(logits, tokens, ignore_index=-100):
    """Return {"loss": (), "perplexity": (), "d_logits": (B, T, V)}."""
    raise NotImplementedError("lm_loss: 请实现 / write me")
