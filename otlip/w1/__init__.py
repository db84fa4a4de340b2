"""otlip.w1: 1-Lipschitz networks and the Wasserstein-1 distance by KR duality."""

from otlip.w1._certificates import (
    certified_radius,
    lipschitz_lower_bound,
    lipschitz_upper_bound,
    orthogonality_error,
)
from otlip.w1._distance import KRPotential, W1Potential, W1Result, w1_distance
from otlip.w1._layers import (
    BjorckDense,
    FrozenDense,
    FullSort,
    GroupSort,
    LipschitzMLP,
    SpectralDense,
    bjorck,
    freeze,
    gram_spectral_bound,
)
from otlip.w1._losses import bce_with_temperature, hinge_loss, hkr_loss, kr_loss

__all__ = [
    "BjorckDense",
    "FrozenDense",
    "FullSort",
    "GroupSort",
    "KRPotential",
    "LipschitzMLP",
    "SpectralDense",
    "W1Potential",
    "W1Result",
    "bce_with_temperature",
    "bjorck",
    "certified_radius",
    "freeze",
    "gram_spectral_bound",
    "hinge_loss",
    "hkr_loss",
    "kr_loss",
    "lipschitz_lower_bound",
    "lipschitz_upper_bound",
    "orthogonality_error",
    "w1_distance",
]
