"""Gaussian processes on distributions with a learned Sinkhorn reference measure.

Thesis appendices C and D: each distribution (a weighted point cloud) is embedded
by its entropic-OT dual potential against a small reference measure ``u``; a
gpjax kernel on these embeddings gives a GP whose marginal likelihood is
maximised jointly in ``u`` and the kernel hyper-parameters (Alg. 13). Baselines
(MMD, sliced Wasserstein, random Fourier mean embeddings) and kernel ridge
regression share the same cloud format.

Only this package imports gpjax (which caps jax below 0.11).
"""

from otlip.gp._baselines import MeanEmbeddingRFF, MMDKernel, SlicedWassersteinEmbedding
from otlip.gp._clouds import CloudBatch, pad_clouds
from otlip.gp._gp import (
    DistributionGP,
    DistributionGPClassifier,
    GPPrediction,
)
from otlip.gp._io import load_clouds, save_clouds
from otlip.gp._ridge import KernelRidge, fit_kernel_ridge, rbf_gram
from otlip.gp._sharding import embed_sharded
from otlip.gp._sinkhorn import EmbeddingOutput, SinkhornEmbedding

__all__ = [
    "CloudBatch",
    "DistributionGP",
    "DistributionGPClassifier",
    "EmbeddingOutput",
    "GPPrediction",
    "KernelRidge",
    "MMDKernel",
    "MeanEmbeddingRFF",
    "SinkhornEmbedding",
    "SlicedWassersteinEmbedding",
    "embed_sharded",
    "fit_kernel_ridge",
    "load_clouds",
    "pad_clouds",
    "rbf_gram",
    "save_clouds",
]
