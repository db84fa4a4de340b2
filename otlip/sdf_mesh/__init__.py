"""otlip.sdf_mesh (under construction)."""
