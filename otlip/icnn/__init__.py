"""otlip.icnn (under construction)."""
