"""In the style of The Annotated Transformer's LayerNorm (harvardnlp, "The Annotated Transformer", 2018/2022:
class LayerNorm with a_2, b_2), written for these tests in NumPy; not copied.

What is distinctive: std = x.std(-1, keepdim=True) in PyTorch is the UNBIASED standard deviation (divided by
D - 1), and eps is added to the standard deviation, outside the square root: a_2 * (x - mean) / (std + eps)
+ b_2. Two departures from torch.nn.LayerNorm at once; the adapter passes the case's eps.

Expected: wrong on every case, named as the pair (unbiased variance, eps outside the square root); neither
mistake alone reproduces the outputs.
"""

import numpy as np


class LayerNorm:
    def __init__(self, features, eps=1e-6):
        self.a_2 = np.ones(features)
        self.b_2 = np.zeros(features)
        self.eps = eps

    def forward(self, x):
        mean = x.mean(-1, keepdims=True)
        std = x.std(-1, ddof=1, keepdims=True)  # torch's x.std() default: unbiased
        return self.a_2 * (x - mean) / (std + self.eps) + self.b_2


# --- adapter to the mhaquiz contract ------------------------------------------------------------------

def layer_norm(x, gamma, beta, eps):
    norm = LayerNorm(x.shape[-1], eps)
    norm.a_2, norm.b_2 = gamma, beta
    return norm.forward(x)
