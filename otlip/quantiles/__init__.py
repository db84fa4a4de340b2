"""otlip.quantiles (under construction)."""
