"""W2 distances and Monge maps with input convex neural networks (thesis chapter 7).

``ICNN`` is a potential ``f`` convex in its input; the Monge map for the
squared Euclidean cost is ``T = ∇f`` (Brenier). ``monge_map`` learns it from
point clouds or samplers, ``w2_distance`` estimates ``W2`` with it.
"""

from otlip.icnn._gaussian import gaussian_monge_map, gaussian_w2, l2_uvp
from otlip.icnn._icnn import (
    ACTIVATIONS,
    ICNN,
    POSITIVE_PARAMETRIZATIONS,
    batch_gradients,
    positive_weights,
    stable_rank,
)
from otlip.icnn._monge import (
    METHODS,
    MongeMap,
    MongeMapEstimator,
    W2Estimate,
    monge_map,
    w2_distance,
)

__all__ = [
    "ACTIVATIONS",
    "ICNN",
    "METHODS",
    "POSITIVE_PARAMETRIZATIONS",
    "MongeMap",
    "MongeMapEstimator",
    "W2Estimate",
    "batch_gradients",
    "gaussian_monge_map",
    "gaussian_w2",
    "l2_uvp",
    "monge_map",
    "positive_weights",
    "stable_rank",
    "w2_distance",
]
