"""In the style of the RMSNorm of many tutorials and small model ports (a function of x alone, eps a keyword
argument with Llama's default), written for these tests; not copied.

What is distinctive: no weight at all (the gain gamma is never applied) and eps fixed at its default 1e-6
instead of the value given: two mistakes at once; the adapter accepts gamma and eps and drops them, as the
calling code that wraps such a function does.

Expected: wrong on every case where gamma or eps matters, named as the pair (eps hard-wired, gamma
ignored); neither alone reproduces the outputs.
"""

import numpy as np


def rmsnorm(x, eps=1e-6):
    return x / np.sqrt(np.mean(x ** 2, axis=-1, keepdims=True) + eps)


# --- adapter to the mhaquiz contract ------------------------------------------------------------------

def rms_norm(x, gamma, eps):
    return rmsnorm(x)
