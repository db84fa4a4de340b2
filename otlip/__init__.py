"""otlip: optimal transport and geometry with constrained neural networks, in JAX.

The curated public API below is re-exported from the sub-packages. Names are
resolved on first access so that ``import otlip`` (and the command line) stays
fast, and so that ``otlip.gp``'s gpjax, which caps the jax version, is imported
only by users of the Gaussian-process package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otlip._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS: dict[str, tuple[str, ...]] = {
    "otlip._persist": ("load",),
    "otlip._train": ("TrainingHistory",),
    "otlip.w1": (
        "BjorckDense",
        "SpectralDense",
        "CayleyDense",
        "ExpMapDense",
        "ONIDense",
        "HouseholderDense",
        "AOLDense",
        "SLLBlock",
        "OrthogonalConv2d",
        "AOLConv2d",
        "GroupSort",
        "FullSort",
        "LipschitzMLP",
        "LipschitzCNN",
        "LipschitzClassifier",
        "freeze",
        "parseval_penalty",
        "kr_loss",
        "hinge_loss",
        "hkr_loss",
        "bce_with_temperature",
        "multiclass_hkr_loss",
        "lipschitz_upper_bound",
        "lipschitz_lower_bound",
        "certified_radius",
        "certified_accuracy",
        "mean_certifiable_robustness",
        "w1_distance",
        "W1Potential",
        "W1Result",
    ),
    "otlip.icnn": (
        "ICNN",
        "stable_rank",
        "monge_map",
        "w2_distance",
        "MongeMap",
        "MongeMapEstimator",
        "W2Estimate",
        "gaussian_w2",
        "gaussian_monge_map",
        "l2_uvp",
    ),
    "otlip.quantiles": (
        "CenterOutward",
        "ConditionalCenterOutward",
        "DiscreteAssignment",
        "sample_spherical_uniform",
        "ball_grid",
        "plot_contours",
        "plot_conditional_contours",
    ),
    "otlip.sdf_mesh": (
        "OneClassSDF",
        "reconstruct_surface",
        "mesh_from_sdf",
        "certified_auroc",
        "chamfer_distance",
        "hausdorff_distance",
        "normal_consistency",
        "surface_error",
        "surface_metrics",
    ),
    "otlip.gp": (
        "SinkhornEmbedding",
        "DistributionGP",
        "DistributionGPClassifier",
        "MMDKernel",
        "SlicedWassersteinEmbedding",
        "MeanEmbeddingRFF",
        "KernelRidge",
        "fit_kernel_ridge",
        "embed_sharded",
    ),
}

if TYPE_CHECKING:  # the names as type checkers and IDEs see them
    from otlip._persist import (
        load,
    )
    from otlip._train import (
        TrainingHistory,
    )
    from otlip.gp import (
        DistributionGP,
        DistributionGPClassifier,
        KernelRidge,
        MeanEmbeddingRFF,
        MMDKernel,
        SinkhornEmbedding,
        SlicedWassersteinEmbedding,
        embed_sharded,
        fit_kernel_ridge,
    )
    from otlip.icnn import (
        ICNN,
        MongeMap,
        MongeMapEstimator,
        W2Estimate,
        gaussian_monge_map,
        gaussian_w2,
        l2_uvp,
        monge_map,
        stable_rank,
        w2_distance,
    )
    from otlip.quantiles import (
        CenterOutward,
        ConditionalCenterOutward,
        DiscreteAssignment,
        ball_grid,
        plot_conditional_contours,
        plot_contours,
        sample_spherical_uniform,
    )
    from otlip.sdf_mesh import (
        OneClassSDF,
        certified_auroc,
        chamfer_distance,
        hausdorff_distance,
        mesh_from_sdf,
        normal_consistency,
        reconstruct_surface,
        surface_error,
        surface_metrics,
    )
    from otlip.w1 import (
        AOLConv2d,
        AOLDense,
        BjorckDense,
        CayleyDense,
        ExpMapDense,
        FullSort,
        GroupSort,
        HouseholderDense,
        LipschitzClassifier,
        LipschitzCNN,
        LipschitzMLP,
        ONIDense,
        OrthogonalConv2d,
        SLLBlock,
        SpectralDense,
        W1Potential,
        W1Result,
        bce_with_temperature,
        certified_accuracy,
        certified_radius,
        freeze,
        hinge_loss,
        hkr_loss,
        kr_loss,
        lipschitz_lower_bound,
        lipschitz_upper_bound,
        mean_certifiable_robustness,
        multiclass_hkr_loss,
        parseval_penalty,
        w1_distance,
    )

# Sub-packages, imported on first access too (``otlip.datasets.banana(...)``).
_SUBPACKAGES = ("datasets", "gp", "icnn", "quantiles", "sdf_mesh", "w1")

__getattr__, __dir__, __all__ = lazy_exports(globals(), _EXPORTS, _SUBPACKAGES)
