"""otlip.w1 (under construction)."""
