"""Gaussian processes on distributions with a learned Sinkhorn reference measure.

Thesis appendices C and D: each distribution (a weighted point cloud) is embedded
by its entropic-OT dual potential against a small reference measure ``u``; a
gpjax kernel on these embeddings gives a GP whose marginal likelihood is
maximised jointly in ``u`` and the kernel hyper-parameters (Alg. 13). Baselines
(MMD, sliced Wasserstein, random Fourier mean embeddings) and kernel ridge
regression share the same cloud format.

Only this package imports gpjax (which caps jax below 0.11).
"""

from typing import TYPE_CHECKING

from otlip._lazy import lazy_exports

# Imported on first access: the command line imports this package to read its
# options, and users without the `gp` extra (gpjax) still run the other commands.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "otlip.gp._baselines": ("MeanEmbeddingRFF", "MMDKernel", "SlicedWassersteinEmbedding"),
    "otlip.gp._clouds": ("CloudBatch", "pad_clouds"),
    "otlip.gp._gp": ("DistributionGP", "DistributionGPClassifier", "GPPrediction"),
    "otlip.gp._io": ("load_clouds", "save_clouds"),
    "otlip.gp._ridge": ("KernelRidge", "fit_kernel_ridge", "rbf_gram"),
    "otlip.gp._sharding": ("embed_sharded",),
    "otlip.gp._sinkhorn": ("EmbeddingOutput", "SinkhornEmbedding"),
}

if TYPE_CHECKING:
    from otlip.gp._baselines import MeanEmbeddingRFF, MMDKernel, SlicedWassersteinEmbedding
    from otlip.gp._clouds import CloudBatch, pad_clouds
    from otlip.gp._gp import DistributionGP, DistributionGPClassifier, GPPrediction
    from otlip.gp._io import load_clouds, save_clouds
    from otlip.gp._ridge import KernelRidge, fit_kernel_ridge, rbf_gram
    from otlip.gp._sharding import embed_sharded
    from otlip.gp._sinkhorn import EmbeddingOutput, SinkhornEmbedding

__getattr__, __dir__, __all__ = lazy_exports(globals(), _EXPORTS)
