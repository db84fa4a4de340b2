"""Center-outward multivariate quantiles and quantile regression (thesis §7.3.4, §7.4).

The center-outward quantile map ``T`` is the Monge map from the spherical
uniform law ``U_d`` to the data; the region of order ``tau`` is
``C(tau) = T(tau * ball)`` with ``P(Y in C(tau)) = tau``.
"""

from otlip.quantiles._center_outward import CenterOutward
from otlip.quantiles._conditional import ConditionalCenterOutward
from otlip.quantiles._discrete import DiscreteAssignment
from otlip.quantiles._plot import plot_conditional_contours, plot_contours
from otlip.quantiles._uniform import (
    ball_grid,
    sample_spherical_uniform,
)

__all__ = [
    "CenterOutward",
    "ConditionalCenterOutward",
    "DiscreteAssignment",
    "ball_grid",
    "plot_conditional_contours",
    "plot_contours",
    "sample_spherical_uniform",
]
