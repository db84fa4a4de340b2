"""Center-outward multivariate quantiles and quantile regression (thesis §7.3.4, §7.4).

The center-outward quantile map ``T`` is the Monge map from the spherical
uniform law ``U_d`` to the data; the region of order ``tau`` is
``C(tau) = T(tau * ball)`` with ``P(Y in C(tau)) = tau``.
"""

from otlip.quantiles._center_outward import Calibration, CenterOutward
from otlip.quantiles._conditional import ConditionalCenterOutward
from otlip.quantiles._datasets import (
    MIXTURES,
    banana,
    conditional_banana,
    gaussian,
    gaussian_mixture,
    isotropic_gaussian_rank,
)
from otlip.quantiles._discrete import DiscreteAssignment, assign_to_grid, exact_assignment
from otlip.quantiles._plot import plot_conditional_contours, plot_contours
from otlip.quantiles._uniform import (
    ball_grid,
    hallin_factorization,
    sample_spherical_uniform,
    sphere_directions,
)

__all__ = [
    "MIXTURES",
    "Calibration",
    "CenterOutward",
    "ConditionalCenterOutward",
    "DiscreteAssignment",
    "assign_to_grid",
    "ball_grid",
    "banana",
    "conditional_banana",
    "exact_assignment",
    "gaussian",
    "gaussian_mixture",
    "hallin_factorization",
    "isotropic_gaussian_rank",
    "plot_conditional_contours",
    "plot_contours",
    "sample_spherical_uniform",
    "sphere_directions",
]
