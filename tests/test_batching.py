"""Padded batched evaluation: every schedule covers the rows once, padding never leaks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from otlip._batching import (
    bucket,
    descending_batches,
    fixed_batches,
    padded_apply,
    power_of_two_batches,
)


@pytest.mark.parametrize("n", [1, 7, 1024, 1025, 5000])
def test_schedules_cover_every_row_once_with_few_sizes(n):
    for batches in (
        fixed_batches(n, 512),
        power_of_two_batches(n, 2048),
        descending_batches(n, (4096, 1024, 256)),
    ):
        starts = [s for s, _, _ in batches]
        stops = [e for _, e, _ in batches]
        assert starts[0] == 0 and stops[-1] == n and starts[1:] == stops[:-1]
        assert all(e - s <= size for s, e, size in batches)
    assert {size for *_, size in descending_batches(n, (4096, 1024, 256))} <= {4096, 1024, 256}


def test_bucket_pads_at_most_a_third_of_its_rows():
    sizes = {bucket(n) for n in range(9, 5000)}
    for n in range(9, 5000):
        b = bucket(n)
        assert n <= b and (b - n) * 3 <= b
    assert len(sizes) == 19  # two sizes per octave from 12 to 6,144: few compilations


@pytest.mark.parametrize("pad", ["edge", "zeros"])
def test_padded_apply_equals_the_direct_call_and_compiles_once_per_size(pad):
    x = np.random.default_rng(0).normal(size=(1000, 3)).astype(np.float32)
    shapes = []

    @jax.jit
    def fn(p):
        shapes.append(p.shape)  # runs at trace time only
        return jnp.sum(p**2, axis=1), 2.0 * p

    values, doubled = padded_apply(fn, x, fixed_batches(1000, 256), pad=pad)
    np.testing.assert_allclose(values, np.sum(x**2, axis=1), rtol=1e-6)
    np.testing.assert_array_equal(doubled, 2.0 * x)
    assert shapes == [(256, 3)]  # four batches, one compilation


def test_padded_apply_rejects_a_function_that_drops_rows():
    with pytest.raises(ValueError, match="one row per point"):
        padded_apply(lambda p: p[:-1], np.zeros((10, 2)), fixed_batches(10, 4))
