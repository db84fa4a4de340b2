"""otlip.sdf_mesh: one-class signed distance functions and Lipschitz-certified meshing."""

from otlip.sdf_mesh._extract import LevelSetGrid, evaluate_grid, mesh_from_grid, mesh_from_sdf

__all__ = ["LevelSetGrid", "evaluate_grid", "mesh_from_grid", "mesh_from_sdf"]
