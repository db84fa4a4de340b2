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

__all__ = [
    "BjorckDense",
    "FrozenDense",
    "FullSort",
    "GroupSort",
    "LipschitzMLP",
    "SpectralDense",
    "bjorck",
    "freeze",
    "gram_spectral_bound",
]
