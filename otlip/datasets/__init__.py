"""Data sets of the thesis's experiments, for examples, tests, benches and notebooks.

- Point clouds in the plane and beyond (center-outward quantiles, §7.3.4): the three
  Gaussian mixtures of Fig. 7.5 (:func:`gaussian_mixture`, :data:`MIXTURES`),
  :func:`banana`, :func:`gaussian` with its exact ranks (:func:`isotropic_gaussian_rank`),
  and the regression set :func:`conditional_banana`.
- Gaussian pairs with closed-form W2 (:func:`random_gaussian_pair`) and samplers of fresh
  points (:func:`gaussian_sampler`).
- Distributions as clouds with targets or labels (appendix C): :func:`toy_gaussians`,
  :func:`gaussian_mixtures`, :func:`digits_clouds`, as :class:`DistributionDataset`.

Only NumPy, SciPy, scikit-learn (the digits) and JAX (the samplers) are needed.
"""

from otlip.datasets._clouds import (
    DistributionDataset,
    digits_clouds,
    gaussian_mixtures,
    toy_gaussians,
)
from otlip.datasets._gaussians import gaussian_sampler, random_gaussian_pair
from otlip.datasets._quantiles import (
    MIXTURES,
    banana,
    conditional_banana,
    gaussian,
    gaussian_mixture,
    isotropic_gaussian_rank,
)

__all__ = [
    "MIXTURES",
    "DistributionDataset",
    "banana",
    "conditional_banana",
    "digits_clouds",
    "gaussian",
    "gaussian_mixture",
    "gaussian_mixtures",
    "gaussian_sampler",
    "isotropic_gaussian_rank",
    "random_gaussian_pair",
    "toy_gaussians",
]
