"""otlip: optimal transport and geometry with constrained neural networks, in JAX."""

__version__ = "0.1.0"
