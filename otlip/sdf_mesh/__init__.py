"""otlip.sdf_mesh: one-class signed distance functions and Lipschitz-certified meshing.

- :class:`OneClassSDF`: 1-Lipschitz network trained with the HKR loss against
  Newton-Raphson negatives (thesis chapter 5, Alg. 5-7), optionally mixed with
  negatives drawn from points certainly off the support; ``|f|`` estimates the
  distance to the support of the data, positive inside.
- :func:`reconstruct_surface`: watertight mesh from a point cloud (no normals).
- :func:`fair_to_points`: thin-plate fit of a mesh's vertices to points (bridges holes
  in the sampling; the last step of :func:`reconstruct_surface`).
- :func:`mesh_from_sdf`: marching cubes (Lewiner) of any field on a box, optionally
  coarse to fine with a Lipschitz certificate (same mesh, far fewer evaluations).
- :func:`certified_auroc`, :func:`certified_auroc_curve`: AUROC certified against l2
  attacks of one radius, or of each of several (Prop. 12).
- Surface metrics (:func:`surface_error`: exact two-sided distances to an analytic
  shape or a reference mesh; :func:`chamfer_distance`, :func:`hausdorff_distance`,
  :func:`normal_consistency`) and analytic shapes with exact SDFs.
- :func:`cloud_scale`: the spacing and noise of a cloud, from which
  :func:`reconstruct_surface` derives its grid, margin and fairing.
"""

from otlip.sdf_mesh._extract import LevelSetGrid, evaluate_grid, mesh_from_grid, mesh_from_sdf
from otlip.sdf_mesh._fairing import fair_to_points
from otlip.sdf_mesh._io import load_mesh, load_point_cloud
from otlip.sdf_mesh._metrics import (
    SurfaceError,
    SurfaceMetrics,
    chamfer_distance,
    hausdorff_distance,
    normal_consistency,
    surface_error,
    surface_metrics,
)
from otlip.sdf_mesh._ocsdf import (
    OneClassSDF,
    certified_auroc,
    certified_auroc_curve,
)
from otlip.sdf_mesh._reconstruct import (
    Reconstruction,
    reconstruct_surface,
    reconstruct_with_details,
)
from otlip.sdf_mesh._scale import CloudScale, cloud_scale
from otlip.sdf_mesh._shapes import Box, Capsule, Shape, ShapeUnion, Sphere, Torus

__all__ = [
    "Box",
    "Capsule",
    "CloudScale",
    "LevelSetGrid",
    "OneClassSDF",
    "Reconstruction",
    "Shape",
    "ShapeUnion",
    "Sphere",
    "SurfaceError",
    "SurfaceMetrics",
    "Torus",
    "certified_auroc",
    "certified_auroc_curve",
    "chamfer_distance",
    "cloud_scale",
    "evaluate_grid",
    "fair_to_points",
    "hausdorff_distance",
    "load_mesh",
    "load_point_cloud",
    "mesh_from_grid",
    "mesh_from_sdf",
    "normal_consistency",
    "reconstruct_surface",
    "reconstruct_with_details",
    "surface_error",
    "surface_metrics",
]
