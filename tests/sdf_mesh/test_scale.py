"""cloud_scale and the scale rules of reconstruct_surface."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from otlip.sdf_mesh import Sphere, Torus, cloud_scale
from otlip.sdf_mesh._reconstruct import _MAX_RESOLUTION, _MIN_RESOLUTION, grid_resolution


def test_spacing_shrinks_as_one_over_the_square_root_of_the_number_of_points():
    shape = Torus()
    small, large = (cloud_scale(shape.sample_surface(n, seed=0)) for n in (5000, 80000))
    # 16 times the points on the same area: a quarter of the spacing. The median of
    # the 4th-neighbour distance of a Poisson sample scales exactly so; 5 % covers
    # the sampling noise of two medians over thousands of points.
    np.testing.assert_allclose(small.spacing / large.spacing, 4.0, rtol=0.05)


@pytest.mark.parametrize("shape", [Sphere(), Torus(1.0, 0.35)], ids=["sphere", "torus"])
@pytest.mark.parametrize("sigma", [0.005, 0.01, 0.02])
def test_noise_is_measured_across_the_surface_and_not_from_its_curvature(shape, sigma):
    clean = shape.sample_surface(20000, seed=0).astype(np.float64)
    noisy = clean + np.random.default_rng(1).normal(scale=sigma, size=clean.shape)
    # Gaussian noise of standard deviation sigma per axis: sigma across the surface.
    # The quadric fits take a share of it with their 6 coefficients (corrected) and a
    # neighbourhood of 32 noisy points blurs the surface a little: within 15 %.
    np.testing.assert_allclose(cloud_scale(noisy).noise, sigma, rtol=0.15)
    # A clean cloud is exact up to float32 rounding of the points; the quadric takes
    # the torus's tube (radius 0.35) for what it is. A plane fit would read its
    # bending over 32 neighbours (about 4e-3) as noise.
    assert cloud_scale(clean).roughness < 0.05 * 0.005


@pytest.mark.parametrize("sigma", [0.0, 0.005])
def test_noise_leaves_out_the_detail_that_the_roughness_counts(sigma):
    clean = Sphere().sample_surface(20000, seed=0).astype(np.float64)
    # Bumps of 2 % of the radius with a wavelength of 0.16: the 32 neighbours of a point
    # (radius about 0.05) bend more than a quadric follows, by about 0.005 rms.
    x, y = clean[:, :1], clean[:, 1:2]
    bumpy = clean * (1 + 0.02 * np.sin(40 * x) * np.cos(40 * y))
    noisy = bumpy + np.random.default_rng(1).normal(scale=sigma, size=clean.shape)
    scale = cloud_scale(noisy)
    assert scale.noise <= scale.roughness
    if sigma == 0:
        # The detail shrinks 16-fold in the residuals of half the neighbours, noise
        # would not: what is left of it is rounding.
        assert scale.roughness > 0.004
        assert scale.noise < 0.05 * scale.roughness
    else:
        # Same tolerance as the smooth shapes' (the quadric's share of the noise and
        # the blur of 32 noisy points); the roughness adds the bumps.
        np.testing.assert_allclose(scale.noise, sigma, rtol=0.15)
        assert scale.roughness > 1.3 * sigma


@pytest.mark.parametrize(
    "shape, area",
    [(Sphere(), 4 * np.pi), (Torus(1.0, 0.35), 4 * np.pi**2 * 0.35)],
    ids=["sphere", "torus"],
)
@pytest.mark.parametrize("sigma", [0.0, 0.01])
def test_area_of_the_sampled_surface(shape, area, sigma):
    clean = shape.sample_surface(20000, seed=0).astype(np.float64)
    noisy = clean + np.random.default_rng(1).normal(scale=sigma, size=clean.shape)
    # 20,000 points count the area by neighbourhoods of 32 (radius about 0.05): the
    # median radius of 4,096 of them is within 1 % and ``k - 4/3`` is the median of a
    # Gamma to 0.3 %; the torus's saddles cut a ball a little differently from a
    # sphere's cap; noise of 0.01 thickens a neighbourhood of that radius a little.
    scale = cloud_scale(noisy)
    np.testing.assert_allclose(scale.area, area, rtol=0.05)
    # Uniform samples: each point holds an equal share of the area.
    np.testing.assert_allclose(scale.area_per_point, area / len(noisy), rtol=0.05)


def test_isolated_share_counts_outliers_and_is_free_of_units():
    shape = Sphere()
    surface = shape.sample_surface(2048, seed=0).astype(np.float64)
    outliers = np.random.default_rng(0).uniform(-1.1, 1.1, size=(205, 3))
    both = np.concatenate([surface, outliers])
    assert cloud_scale(surface).isolated_share <= 0.005
    assert 0.01 < cloud_scale(both).isolated_share <= 205 / len(both)
    a, b = cloud_scale(both), cloud_scale(1e3 * both)
    np.testing.assert_allclose(b.spacing, 1e3 * a.spacing, rtol=1e-9)
    np.testing.assert_allclose(b.roughness, 1e3 * a.roughness, rtol=1e-6)
    np.testing.assert_allclose(b.noise, 1e3 * a.noise, rtol=1e-6)
    np.testing.assert_allclose(b.area, 1e6 * a.area, rtol=1e-6)
    # The outliers are isolated and hold no area: the sphere's area, as without them.
    np.testing.assert_allclose(a.area, cloud_scale(surface).area, rtol=0.05)


def test_a_dense_noisy_band_has_no_isolated_points():
    # 2 10^5 points with noise about twice the spacing: the band is a volume whose
    # density thins out across it. Against twice the spacing alone, its tails stand apart
    # (over the 1 % that means outliers); within 1.5 noise deviations of them lies
    # the band.
    shape = Sphere()
    clean = shape.sample_surface(200_000, seed=0).astype(np.float64)
    noisy = clean + np.random.default_rng(1).normal(scale=0.04, size=clean.shape)
    scale = cloud_scale(noisy)
    assert scale.roughness > 1.5 * scale.spacing
    fourth = cKDTree(noisy).query(noisy, 5)[0][:, -1]
    assert np.mean(fourth > 2 * scale.spacing) > 0.01
    assert scale.isolated_share <= 0.005


def test_grid_resolution_follows_the_spacing_within_its_bounds():
    assert grid_resolution(1.0, 1.0 / 300) == 301
    assert grid_resolution(1.0, 0.1) == _MIN_RESOLUTION
    assert grid_resolution(1.0, 1e-4) == _MAX_RESOLUTION


@pytest.mark.parametrize(
    "points, match",
    [
        (np.zeros((3, 3)), "at least"),
        (np.full((10, 3), np.nan), "non-finite"),
        (np.zeros((10, 3)), "duplicate"),
    ],
)
def test_bad_clouds(points, match):
    with pytest.raises(ValueError, match=match):
        cloud_scale(points)
