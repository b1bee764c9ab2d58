"""参考实现：因果语言模型的损失、困惑度和 logits 的梯度（PyTorch，手推梯度）/ Reference: the causal LM loss,
its perplexity and the gradient of the logits (PyTorch, the gradient by hand).

约定同 NumPy 版：logits[:, :-1] 对 tokens[:, 1:]；等于 ignore_index 的目标不计入；对整个 batch 计入的 N 个目标取平均。
Conventions as in the NumPy track: logits[:, :-1] against tokens[:, 1:]; targets equal to ignore_index do not
count; the mean over the N counted targets of the whole batch.
"""

import torch


def lm_loss(logits: torch.Tensor, tokens: torch.Tensor, ignore_index: int = -100) -> dict:
    """logits (B, T, V)，tokens (B, T)：返回 {"loss": (), "perplexity": (), "d_logits": (B, T, V)}。

    logits (B, T, V), tokens (B, T): {"loss": (), "perplexity": (), "d_logits": (B, T, V)}."""
    B, T, V = logits.shape
    pred = logits[:, :-1]  # (B, T-1, V)：位置 t 预测 t+1 / position t predicts token t+1
    targets = tokens[:, 1:]  # (B, T-1)
    counted = targets != ignore_index  # (B, T-1) bool
    safe = targets.masked_fill(~counted, 0)  # 被忽略的目标不当下标用 / an ignored target is never an index
    shifted = pred - pred.amax(dim=-1, keepdim=True)  # (B, T-1, V)：每行最大值为 0 / each row's max is 0
    log_probs = shifted - torch.log(torch.exp(shifted).sum(dim=-1, keepdim=True))  # log-sum-exp，不会溢出
    nll = -log_probs.gather(-1, safe.unsqueeze(-1)).squeeze(-1)  # (B, T-1)：-log p(目标 / target)
    weights = counted.to(logits.dtype) / counted.sum()  # (B, T-1)：计入的 1/N，其余 0 / 1/N if counted, else 0
    loss = (weights * nll).sum()  # ()
    one_hot = torch.zeros_like(pred).scatter_(-1, safe.unsqueeze(-1), 1.0)  # (B, T-1, V)
    d_pred = weights.unsqueeze(-1) * (torch.exp(log_probs) - one_hot)  # (B, T-1, V)：(softmax - one_hot) / N
    d_logits = torch.cat([d_pred, torch.zeros_like(logits[:, -1:])], dim=1)  # (B, T, V)：最后一个位置为 0
    return {"loss": loss, "perplexity": torch.exp(loss), "d_logits": d_logits}
