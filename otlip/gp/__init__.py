"""otlip.gp (under construction)."""
