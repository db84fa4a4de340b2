"""W2 distances and Monge maps with input convex neural networks (thesis chapter 7).

``ICNN`` is a potential ``f`` convex in its input; the Monge map for the
squared Euclidean cost is ``T = ∇f`` (Brenier).
"""

from otlip.icnn._icnn import (
    ACTIVATIONS,
    ICNN,
    POSITIVE_PARAMETRIZATIONS,
    positive_weights,
    stable_rank,
)

__all__ = [
    "ACTIVATIONS",
    "ICNN",
    "POSITIVE_PARAMETRIZATIONS",
    "positive_weights",
    "stable_rank",
]
