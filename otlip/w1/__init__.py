"""otlip.w1: 1-Lipschitz networks, their certificates, and the Wasserstein-1 distance by
KR duality.

Parametrizations, one interface (:class:`LipschitzLayer`: ``export()`` to a plain layer,
``lipschitz_bound()`` certified on the host):

* dense (:class:`LipschitzDense`): Björck, spectral, Cayley, exponential map, ONI,
  Householder, AOL; the residual :class:`SLLBlock`; :class:`LipschitzMLP` over any of them;
* convolutional: :class:`OrthogonalConv2d` (Cayley in the Fourier domain),
  :class:`AOLConv2d`, Lipschitz poolings, :class:`LipschitzCNN`;
* :func:`parseval_penalty` for unconstrained layers.
"""

from otlip.w1._aol import AOLDense
from otlip.w1._certificates import (
    certified_accuracy,
    certified_radius,
    lipschitz_lower_bound,
    lipschitz_upper_bound,
    mean_certifiable_robustness,
    orthogonality_error,
)
from otlip.w1._classifier import LipschitzClassifier
from otlip.w1._cnn import LipschitzCNN
from otlip.w1._conv import (
    AOLConv2d,
    GlobalL2NormPool,
    InvertibleDownsampling,
    L2NormPool2d,
    OrthogonalConv2d,
)
from otlip.w1._distance import KRPotential, W1Potential, W1Result, w1_distance
from otlip.w1._layers import (
    BjorckDense,
    FrozenDense,
    FullSort,
    GroupSort,
    LipschitzDense,
    LipschitzLayer,
    SpectralDense,
    bjorck,
    freeze,
    gram_spectral_bound,
)
from otlip.w1._losses import (
    bce_with_temperature,
    hinge_loss,
    hkr_loss,
    kr_loss,
    multiclass_hinge_loss,
    multiclass_hkr_loss,
    tau_cross_entropy,
)
from otlip.w1._mlp import LipschitzMLP
from otlip.w1._orthogonal import CayleyDense, ExpMapDense, HouseholderDense, ONIDense
from otlip.w1._parseval import parseval_penalty, parseval_penalty_stochastic
from otlip.w1._sll import SLLBlock

__all__ = [
    "AOLConv2d",
    "AOLDense",
    "BjorckDense",
    "CayleyDense",
    "ExpMapDense",
    "FrozenDense",
    "FullSort",
    "GlobalL2NormPool",
    "GroupSort",
    "HouseholderDense",
    "InvertibleDownsampling",
    "KRPotential",
    "L2NormPool2d",
    "LipschitzCNN",
    "LipschitzClassifier",
    "LipschitzDense",
    "LipschitzLayer",
    "LipschitzMLP",
    "ONIDense",
    "OrthogonalConv2d",
    "SLLBlock",
    "SpectralDense",
    "W1Potential",
    "W1Result",
    "bce_with_temperature",
    "bjorck",
    "certified_accuracy",
    "certified_radius",
    "freeze",
    "gram_spectral_bound",
    "hinge_loss",
    "hkr_loss",
    "kr_loss",
    "lipschitz_lower_bound",
    "lipschitz_upper_bound",
    "mean_certifiable_robustness",
    "multiclass_hinge_loss",
    "multiclass_hkr_loss",
    "orthogonality_error",
    "parseval_penalty",
    "parseval_penalty_stochastic",
    "tau_cross_entropy",
    "w1_distance",
]
