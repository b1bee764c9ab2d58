"""因果语言模型的损失（下一个 token 的交叉熵），用 PyTorch 实现 / The causal language-model loss (next-token
cross-entropy), in PyTorch.

【中文】写函数 lm_loss(logits, tokens, ignore_index=-100)，约定与 NumPy 版相同：
- logits：(B, T, V) float64 张量；tokens：(B, T) int64 张量，还没有错位；ignore_index：一个整数。
- 错位一位：logits[:, :-1] 对 tokens[:, 1:]。等于 ignore_index 的目标不计入（它可以是 -100、-1，也可以是合法的
  类别下标 0：不要拿它当下标用）。
- loss = 计入目标的 NLL 之和 / N（N 是整个 batch 中计入的目标数）；perplexity = exp(loss)。
- d_logits = d loss / d logits，(B, T, V)：计入的目标处为 (softmax − one_hot) / N，其余各行为 0。梯度要自己推出来写，
  不许用 autograd（.backward()、.grad、torch.autograd.grad）。
- 数值稳定：有 logits 约为 1000 的用例，自己写 log-sum-exp（先减每行最大值）。
- 不许用 F.cross_entropy、nn.CrossEntropyLoss、F.nll_loss、log_softmax、softmax、torch.logsumexp（这道题就是要你自己写）。
- 返回字典 {"loss": 0 维张量, "perplexity": 0 维张量, "d_logits": (B, T, V)}。全程 float64，不要修改输入。

[English] Write lm_loss(logits, tokens, ignore_index=-100), with the NumPy track's conventions:
- logits: (B, T, V) float64 tensor; tokens: (B, T) int64 tensor, not shifted yet; ignore_index: an int.
- The shift by one: logits[:, :-1] against tokens[:, 1:]. Targets equal to ignore_index do not count (it may be
  -100, -1, or the valid class index 0: never use it as an index).
- loss = the sum of the counted targets' NLL / N (N = counted targets in the whole batch); perplexity = exp(loss).
- d_logits = d loss / d logits, (B, T, V): (softmax - one_hot) / N at counted targets, rows of 0 elsewhere. Work
  the gradient out and write it: no autograd (.backward(), .grad, torch.autograd.grad).
- Numerically stable: some logits are around 1000; write the log-sum-exp yourself (subtract each row's max).
- Not allowed: F.cross_entropy, nn.CrossEntropyLoss, F.nll_loss, log_softmax, softmax, torch.logsumexp (this
  exercise is writing them).
- Return the dict {"loss": 0-d tensor, "perplexity": 0-d tensor, "d_logits": (B, T, V)}. float64 throughout; do
  not modify the inputs.
"""

import torch


def lm_loss(logits: torch.Tensor, tokens: torch.Tensor, ignore_index: int = -100) -> dict:
    """Return {"loss": (), "perplexity": (), "d_logits": (B, T, V)}."""
    raise NotImplementedError("lm_loss: 请实现 / write me")
