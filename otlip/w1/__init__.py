"""otlip.w1: 1-Lipschitz networks and the Wasserstein-1 distance by KR duality."""

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
    "LipschitzMLP",
    "SpectralDense",
    "bce_with_temperature",
    "bjorck",
    "freeze",
    "gram_spectral_bound",
    "hinge_loss",
    "hkr_loss",
    "kr_loss",
]
