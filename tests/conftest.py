"""Strict JAX settings for the whole suite: no silent dtype or rank promotion."""

import os

import jax
import numpy as np
import pytest

# tests that call the CLI in-process must not switch on a persistent compilation cache
# for the rest of the test run (nor write to the user's ~/.cache)
os.environ["OTLIP_NO_COMPILATION_CACHE"] = "1"

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def key():
    """A fixed PRNG key; tests split it explicitly."""
    return jax.random.key(0)


@pytest.fixture
def rng():
    """A fixed NumPy generator for data generation."""
    return np.random.default_rng(0)
