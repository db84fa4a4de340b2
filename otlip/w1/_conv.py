"""1-Lipschitz 2-D convolutions and the parameter-free image layers of a Lipschitz CNN.

* :class:`OrthogonalConv2d`: an orthogonal circular convolution, the Cayley transform
  of its kernel taken frequency by frequency in the Fourier domain (Trockman & Kolter,
  ICLR 2021), exported as :class:`FrozenFourierConv2d`;
* :class:`AOLConv2d`: a zero-padded convolution whose input channels are rescaled as in
  AOL (Prach & Lampert, ECCV 2022), exported as :class:`FrozenConv2d`;
* :class:`InvertibleDownsampling`, :class:`L2NormPool2d`, :class:`GlobalL2NormPool` and
  :class:`ChannelGroupSort`: parameter-free 1-Lipschitz maps between images.

Layers take ONE image ``[channels, height, width]``; callers ``jax.vmap`` over a batch.
The normalized operator does not depend on the input, so under ``vmap`` it is computed
once per call, not once per image.
"""

from __future__ import annotations

import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from otlip._precision import full_precision
from otlip.w1._layers import LipschitzLayer, _groupsort_rows

__all__ = [
    "AOLConv2d",
    "ChannelGroupSort",
    "FrozenConv2d",
    "FrozenFourierConv2d",
    "GlobalL2NormPool",
    "InvertibleDownsampling",
    "L2NormPool2d",
    "OrthogonalConv2d",
    "conv_lipschitz_bound",
]


# --------------------------------------------------------------------------- checks


def _check_positive(**values: int) -> None:
    """Raise a ``ValueError`` naming the first argument that is not a positive integer."""
    for name, value in values.items():
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}")


def _image_shape(image_size: int | tuple[int, int]) -> tuple[int, int]:
    """``image_size`` (an int or a ``(height, width)`` pair) as a validated pair."""
    shape = (image_size, image_size) if np.ndim(image_size) == 0 else tuple(image_size)
    if len(shape) != 2:
        raise ValueError(f"`image_size` must be an int or a (height, width) pair, got {shape}")
    for s in shape:
        _check_positive(image_size=s)
    return int(shape[0]), int(shape[1])


def _check_image(x: jax.Array, channels: int, shape: tuple[int, int] | None, name: str) -> None:
    """Raise a ``ValueError`` (at trace time) unless ``x`` is ONE ``[channels, h, w]`` image."""
    if x.ndim != 3 or x.shape[0] != channels or (shape is not None and x.shape[1:] != shape):
        want = f"[{channels}, {shape[0]}, {shape[1]}]" if shape else f"[{channels}, h, w]"
        raise ValueError(
            f"{name} takes ONE image {want} (vmap over a batch), got shape {tuple(x.shape)}"
        )


# ------------------------------------------------------------------ parameter-free


def _space_to_depth(x: jax.Array, factor: int) -> jax.Array:
    """``[c, h, w]`` → ``[c·f², h/f, w/f]``; output channel ``c·f² + a·f + b`` holds the
    pixels at offset ``(a, b)`` of every ``f × f`` block of input channel ``c``."""
    c, h, w = x.shape
    x = x.reshape(c, h // factor, factor, w // factor, factor)
    return x.transpose(0, 2, 4, 1, 3).reshape(c * factor**2, h // factor, w // factor)


class InvertibleDownsampling(eqx.Module):
    """Pixel-unshuffle ``[c, h, w]`` → ``[c·f², h/f, w/f]`` (space to depth).

    Every ``f × f`` block of pixels of a channel becomes ``f²`` channels of one pixel.
    The map only moves entries (a permutation matrix), hence it is orthogonal: norm
    preserving, 1-Lipschitz, and invertible. ``h`` and ``w`` must be divisible by ``f``.

    Args:
        factor: the downsampling factor ``f >= 1``.

    >>> InvertibleDownsampling(2)(jnp.ones((3, 8, 8))).shape
    (12, 4, 4)
    """

    factor: int = eqx.field(static=True)

    def __init__(self, factor: int):
        _check_positive(factor=factor)
        self.factor = int(factor)

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x`` ``[c, h, w]`` → ``[c·f², h/f, w/f]``."""
        if x.ndim != 3 or x.shape[1] % self.factor or x.shape[2] % self.factor:
            raise ValueError(
                f"InvertibleDownsampling({self.factor}) takes ONE image [c, h, w] with h and w "
                f"divisible by {self.factor}, got shape {tuple(x.shape)}"
            )
        return _space_to_depth(x, self.factor)

    def lipschitz_bound(self) -> float:
        """``1.0``: a permutation of the entries."""
        return 1.0


def _safe_norm(sumsq: jax.Array) -> jax.Array:
    """``sqrt(sumsq)`` with gradient 0 (a valid subgradient of the norm) where it is 0;
    a plain ``sqrt`` would give an infinite derivative, hence NaN gradients, at 0."""
    positive = sumsq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sumsq, 1)), 0)


class L2NormPool2d(eqx.Module):
    """ℓ2 norm over non-overlapping ``window × window`` blocks: ``[c, h, w]`` → ``[c, h/p, w/p]``.

    1-Lipschitz: for two images ``x, y`` and one block ``B``, the reverse triangle
    inequality gives ``|‖x_B‖ − ‖y_B‖| ≤ ‖x_B − y_B‖``; the blocks are disjoint, so summing
    the squares over the blocks gives ``‖pool(x) − pool(y)‖ ≤ ‖x − y‖``. The gradient is
    ``x_B / ‖x_B‖`` in each block, so it also preserves gradient norms where every block
    is non-zero and has a single output (1-Lipschitz, not norm preserving, in general).

    Args:
        window: block side ``p >= 1``; ``h`` and ``w`` must be divisible by it.

    >>> L2NormPool2d(2)(jnp.ones((3, 4, 4)))[0]
    Array([[2., 2.],
           [2., 2.]], dtype=float32)
    """

    window: int = eqx.field(static=True)

    def __init__(self, window: int):
        _check_positive(window=window)
        self.window = int(window)

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x`` ``[c, h, w]`` → ``[c, h/p, w/p]``."""
        p = self.window
        if x.ndim != 3 or x.shape[1] % p or x.shape[2] % p:
            raise ValueError(
                f"L2NormPool2d({p}) takes ONE image [c, h, w] with h and w divisible by {p}, "
                f"got shape {tuple(x.shape)}"
            )
        c, h, w = x.shape
        blocks = x.reshape(c, h // p, p, w // p, p)
        return _safe_norm(jnp.sum(blocks * blocks, axis=(2, 4)))

    def lipschitz_bound(self) -> float:
        """``1.0`` (see the class docstring)."""
        return 1.0


class GlobalL2NormPool(eqx.Module):
    """Per-channel ℓ2 norm over the whole image: ``[c, h, w]`` → ``[c]``.

    1-Lipschitz for the same reason as :class:`L2NormPool2d` (one block per channel):
    ``Σ_c (‖x_c‖ − ‖y_c‖)² ≤ Σ_c ‖x_c − y_c‖² = ‖x − y‖²``.

    >>> GlobalL2NormPool()(jnp.full((2, 3, 3), 2.0))
    Array([6., 6.], dtype=float32)
    """

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x`` ``[c, h, w]`` → ``[c]``."""
        if x.ndim != 3:
            raise ValueError(f"GlobalL2NormPool takes ONE image [c, h, w], got {tuple(x.shape)}")
        return _safe_norm(jnp.sum(x * x, axis=(1, 2)))

    def lipschitz_bound(self) -> float:
        """``1.0`` (see the class docstring)."""
        return 1.0


class ChannelGroupSort(eqx.Module):
    """GroupSort over channels at each pixel: ``[c, h, w]`` → ``[c, h, w]``.

    At every pixel, channels ``g·i .. g·i + g − 1`` are sorted. A permutation of the
    entries that depends on the input piecewise, hence 1-Lipschitz and gradient-norm
    preserving (its Jacobian is a permutation matrix). ``c`` must be divisible by ``g``.

    Args:
        group_size: ``g >= 1``.

    >>> ChannelGroupSort(2)(jnp.array([[[1.0]], [[0.0]]]))[:, 0, 0]
    Array([0., 1.], dtype=float32)
    """

    group_size: int = eqx.field(static=True)

    def __init__(self, group_size: int = 2):
        _check_positive(group_size=group_size)
        self.group_size = int(group_size)

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x`` ``[c, h, w]`` → ``[c, h, w]``."""
        if x.ndim != 3:
            raise ValueError(f"ChannelGroupSort takes ONE image [c, h, w], got {tuple(x.shape)}")
        c, h, w = x.shape
        return _groupsort_rows(x.reshape(c, h * w), self.group_size).reshape(c, h, w)

    def lipschitz_bound(self) -> float:
        """``1.0``: a permutation of the entries."""
        return 1.0


# ------------------------------------------------------------------- orthogonal (Cayley)


def _adjoint(m: jax.Array) -> jax.Array:
    return jnp.conj(jnp.swapaxes(m, -1, -2))


def _cayley_tall(w: jax.Array) -> jax.Array:
    """Column-orthonormal ``Q`` ``[..., m, n]`` (``m >= n``) from any complex ``w`` ``[..., m, n]``.

    With ``w = [U; V]`` (``U`` ``[n, n]``) this is the first ``n`` columns of the Cayley
    transform ``(I + S)⁻¹(I − S)`` of the ``m × m`` skew-Hermitian matrix
    ``S = [[U − Uᴴ, −Vᴴ], [V, 0]]`` (Trockman & Kolter, 2021). By a Schur complement it
    needs only an ``n × n`` solve: with ``A = U − Uᴴ + VᴴV``,
    ``Q = [(I + A)⁻¹(I − A); −2 V (I + A)⁻¹]`` and ``QᴴQ = I``. ``I + A`` is always
    invertible: ``Re xᴴ(I + A)x = ‖x‖² + ‖Vx‖² > 0``, so ``‖(I + A)⁻¹‖₂ ≤ 1``.
    """
    n = w.shape[-1]
    u, v = w[..., :n, :], w[..., n:, :]
    a = u - _adjoint(u) + _adjoint(v) @ v
    # explicit broadcast: the batch of frequencies shares one identity
    eye = jnp.broadcast_to(jnp.eye(n, dtype=w.dtype), a.shape)
    if v.shape[-2] == 0:
        return jnp.linalg.solve(eye + a, eye - a)
    # one LU factorization of I + A serves both right-hand sides
    sol = jnp.linalg.solve(eye + a, jnp.concatenate([eye - a, eye], axis=-1))
    return jnp.concatenate([sol[..., :n], -2 * (v @ sol[..., n:])], axis=-2)


@full_precision
def _cayley(w: jax.Array) -> jax.Array:
    """``Q`` ``[..., m, n]``: orthonormal columns if ``m >= n``, orthonormal rows otherwise
    (the transpose of the tall case, as in the paper)."""
    if w.shape[-2] >= w.shape[-1]:
        return _cayley_tall(w)
    return jnp.swapaxes(_cayley_tall(jnp.swapaxes(w, -1, -2)), -1, -2)


@full_precision
def _fourier_conv(q: jax.Array, x: jax.Array, bias: jax.Array | None, stride: int) -> jax.Array:
    """Circular convolution given by its half-spectrum matrices ``q`` ``[H, W//2+1, o, i]``.

    ``x`` ``[c, h, w]`` is first pixel-unshuffled by ``stride`` (to ``[i, H, W]``); the
    output is ``irfft2(Q(ω) x̂(ω))`` ``[o, H, W]``, plus the bias.
    """
    if stride > 1:
        x = _space_to_depth(x, stride)
    hw = x.shape[1:]
    xh = jnp.fft.rfft2(x)  # [i, H, W//2+1]
    yh = jnp.einsum("hwoi,ihw->ohw", q, xh)
    y = jnp.fft.irfft2(yh, s=hw).astype(x.dtype)
    return y if bias is None else y + bias[:, None, None]


@eqx.filter_jit
def _fourier_matrices_jit(layer: OrthogonalConv2d) -> jax.Array:
    return layer.fourier_matrices()


def _fourier_norm(q) -> float:
    """``max_ω ‖Q(ω)‖₂`` by a complex128 SVD on the host: the exact operator norm of the
    circular convolution (a unitary FFT block-diagonalizes it; the conjugate half of the
    spectrum holds the conjugate matrices, of equal norms)."""
    q = np.asarray(q).astype(np.complex128)
    return float(np.linalg.svd(q, compute_uv=False).max())


class OrthogonalConv2d(LipschitzLayer):
    """Orthogonal circular 2-D convolution by the Cayley transform in the Fourier domain.

    Trockman & Kolter (ICLR 2021), "Orthogonalizing convolutional layers with the
    Cayley transform". The free kernel ``weight`` ``[c_out, c_in', k, k]`` is transformed
    frequency by frequency: with ``K̂(ω)`` the ``c_out × c_in'`` matrix of its 2-D DFT on
    the ``H × W`` grid, the applied matrix is ``Q(ω) = (I + A)⁻¹(I − A)`` for the
    skew-Hermitian ``A(ω) = K̂(ω) − K̂(ω)ᴴ`` when ``c_out = c_in'``. As in the paper, a
    tall ``K̂ = [U; V]`` (``c_out > c_in'``, ``U`` square) is completed to the
    ``c_out × c_out`` skew matrix ``[[U − Uᴴ, −Vᴴ], [V, 0]]`` whose Cayley transform is
    cropped to its first ``c_in'`` columns (computed with a ``c_in' × c_in'`` solve, see
    :func:`_cayley_tall`); a wide one is the transpose of that construction on ``K̂ᵀ``.
    ``Q(ω)`` is unitary (square), has orthonormal columns (``c_out > c_in'``) or
    orthonormal rows (``c_out < c_in'``), for ANY kernel.

    Padding is **circular**: the image is a torus, the convolution wraps around at the
    borders. This is what makes the layer exactly orthogonal; the effective filter,
    ``irfft2(Q)``, spans the whole image (not only ``k × k``). The kernel is real, so
    ``Q(−ω) = conj Q(ω)`` and only the ``rfft2`` half-spectrum is computed (``H × (W//2+1)``
    solves).

    A stride ``s > 1`` first pixel-unshuffles the input (:class:`InvertibleDownsampling`,
    an orthogonal permutation ``[c_in, h, w]`` → ``[c_in·s², h/s, w/s]``), then applies
    the orthogonal convolution on the smaller image with ``c_in' = c_in·s²`` channels.

    Guarantees (exact arithmetic; float32 adds ~1e-6): the layer is 1-Lipschitz always
    and orthogonal, ``‖conv(x)‖ = ‖x‖`` without bias, when ``c_out >= c_in'``.

    Args:
        in_channels: ``c_in``.
        out_channels: ``c_out``.
        kernel_size: side ``k`` of the free kernel, at most the image side after the
            stride.
        image_size: input side ``h = w`` (or a ``(h, w)`` pair), divisible by the stride.
            The layer only accepts this size: the Fourier matrices depend on it.
        key: PRNG key.
        stride: downsampling factor ``s``.
        use_bias: add a per-output-channel bias.
        dtype: parameter dtype (``float32`` or ``float64``).

    Attributes:
        weight: free kernel ``[c_out, c_in·s², k, k]``.
        bias: ``[c_out]`` or ``None``.

    >>> conv = OrthogonalConv2d(3, 8, 3, 16, key=jax.random.key(0), stride=2)
    >>> conv(jnp.ones((3, 16, 16))).shape
    (8, 8, 8)
    """

    solves_linear_systems: ClassVar[bool] = True  # a LAPACK solve (see LipschitzLayer)
    weight: jax.Array
    bias: jax.Array | None
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    kernel_size: int = eqx.field(static=True)
    image_size: tuple[int, int] = eqx.field(static=True)
    stride: int = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        image_size: int | tuple[int, int],
        *,
        key: jax.Array,
        stride: int = 1,
        use_bias: bool = True,
        dtype=jnp.float32,
    ):
        _check_positive(
            in_channels=in_channels,
            out_channels=out_channels,
            kernel_size=kernel_size,
            stride=stride,
        )
        h, w = _image_shape(image_size)
        if h % stride or w % stride:
            raise ValueError(
                f"`image_size` {(h, w)} is not divisible by `stride` {stride} (the stride "
                "pixel-unshuffles the image)"
            )
        if kernel_size > min(h, w) // stride:
            raise ValueError(
                f"`kernel_size` {kernel_size} is larger than the image "
                f"{h // stride} × {w // stride} it is applied to (after the stride-{stride} "
                "downsampling); a circular kernel would wrap onto itself"
            )
        c_in = in_channels * stride**2
        # PyTorch's default convolution initialization: U(±1/√fan_in)
        bound = 1.0 / math.sqrt(c_in * kernel_size**2)
        wkey, bkey = jax.random.split(key)
        self.weight = jax.random.uniform(
            wkey, (out_channels, c_in, kernel_size, kernel_size), dtype, -bound, bound
        )
        self.bias = (
            jax.random.uniform(bkey, (out_channels,), dtype, -bound, bound) if use_bias else None
        )
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = int(kernel_size)
        self.image_size = (h, w)
        self.stride = int(stride)

    @full_precision
    def fourier_matrices(self) -> jax.Array:
        """The applied matrices ``Q(ω)`` ``[H, W//2+1, c_out, c_in']`` (complex), on the
        half-spectrum of the ``H × W = (h/s) × (w/s)`` grid."""
        hw = (self.image_size[0] // self.stride, self.image_size[1] // self.stride)
        kh = jnp.fft.rfft2(self.weight, s=hw)  # [c_out, c_in', H, W//2+1]
        return _cayley(jnp.moveaxis(kh, (0, 1), (2, 3)))

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x`` ``[c_in, h, w]`` → ``[c_out, h/s, w/s]``."""
        _check_image(x, self.in_channels, self.image_size, "OrthogonalConv2d")
        return _fourier_conv(self.fourier_matrices(), x, self.bias, self.stride)

    def export(self) -> FrozenFourierConv2d:
        """A :class:`FrozenFourierConv2d` holding ``Q(ω)`` and the bias (same outputs)."""
        return FrozenFourierConv2d(
            self.fourier_matrices(), self.bias, self.in_channels, self.image_size, self.stride
        )

    def lipschitz_bound(self) -> float:
        """``max_ω ‖Q(ω)‖₂`` (complex128 SVD of the applied matrices): the exact ℓ2
        operator norm of the layer (the pixel-unshuffle is a permutation)."""
        return _fourier_norm(_fourier_matrices_jit(self))


class FrozenFourierConv2d(eqx.Module):
    """Circular convolution given by precomputed per-frequency matrices (no solve).

    Produced by :meth:`OrthogonalConv2d.export`; computes the same function.

    Attributes:
        q: ``[H, W//2+1, c_out, c_in']`` complex half-spectrum matrices.
        bias: ``[c_out]`` or ``None``.
    """

    q: jax.Array
    bias: jax.Array | None
    in_channels: int = eqx.field(static=True)
    image_size: tuple[int, int] = eqx.field(static=True)
    stride: int = eqx.field(static=True)

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x`` ``[c_in, h, w]`` → ``[c_out, h/s, w/s]``."""
        _check_image(x, self.in_channels, self.image_size, "FrozenFourierConv2d")
        return _fourier_conv(self.q, x, self.bias, self.stride)

    def lipschitz_bound(self) -> float:
        """``max_ω ‖Q(ω)‖₂`` by a complex128 SVD: the exact operator norm."""
        return _fourier_norm(self.q)


# ------------------------------------------------------------------------------ AOL


@full_precision
def _conv_same(w: jax.Array, x: jax.Array, bias: jax.Array | None) -> jax.Array:
    """Zero-padded ("SAME") cross-correlation of ONE image ``x`` ``[i, h, w]`` with ``w``
    ``[o, i, k, k]`` → ``[o, h, w]``."""
    y = jax.lax.conv_general_dilated(
        x[None], w, (1, 1), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW")
    )[0]
    return y if bias is None else y + bias[:, None, None]


@full_precision
def _aol_scales(w: jax.Array) -> jax.Array:
    """AOL input-channel scales ``d_j = (Σ_i Σ_δ |P_δ[j, i]|)^(−1/2)`` ``[c_in]``.

    ``P_δ[j, i] = Σ_o Σ_a w[o, j, a + δ] w[o, i, a]`` over all ``(2k − 1)²`` offsets
    ``δ`` is the full 2-D cross-correlation ``Kᵀ ⋆ K`` of the kernel with itself: the
    entries of the Gram matrix of the convolution on the infinite plane.
    """
    k = w.shape[-1]
    wt = jnp.swapaxes(w, 0, 1)  # [c_in, c_out, k, k]: c_in images of c_out channels
    p = jax.lax.conv_general_dilated(
        wt, wt, (1, 1), [(k - 1, k - 1)] * 2, dimension_numbers=("NCHW", "OIHW", "NCHW")
    )  # [c_in (j), c_in (i), 2k−1, 2k−1]
    s = jnp.sum(jnp.abs(p), axis=(1, 2, 3))
    # an all-zero input channel (s = 0) has no effect whatever its scale
    return jax.lax.rsqrt(jnp.maximum(s, jnp.finfo(w.dtype).tiny))


def _schur_bound(w: np.ndarray) -> float:
    """``sqrt(ρ(B))``, ``B = Σ_δ |P_δ|``: see :func:`conv_lipschitz_bound`."""
    _, c_in, kh, kw = w.shape
    b = np.zeros((c_in, c_in))
    for dy in range(-(kh - 1), kh):
        for dx in range(-(kw - 1), kw):
            # P_δ[j, i] = Σ_o Σ_a w[o, j, a + δ] w[o, i, a] over the overlap of the shifts
            rows_j, rows_i = slice(max(dy, 0), kh + min(dy, 0)), slice(max(-dy, 0), kh - max(dy, 0))
            cols_j, cols_i = slice(max(dx, 0), kw + min(dx, 0)), slice(max(-dx, 0), kw - max(dx, 0))
            b += np.abs(
                np.einsum("ojyx,oiyx->ji", w[:, :, rows_j, cols_j], w[:, :, rows_i, cols_i])
            )
    return float(np.sqrt(max(np.linalg.eigvalsh(b)[-1], 0.0)))


#: DFT grid points per unit of kernel extent ``k − 1`` in :func:`_fourier_grid_bound`:
#: the correction factor is then at most ``1 / sqrt(1 − (2π / 64)² / 2) ≈ 1.0024``.
_GRID_DENSITY = 64


def _fourier_grid_bound(w: np.ndarray) -> float:
    """``max`` of ``‖K̂(ω)‖₂`` on a DFT grid, corrected into a bound of the sup over all
    ``ω``: see :func:`conv_lipschitz_bound`."""
    kh, kw = w.shape[-2:]
    m = (max(1, _GRID_DENSITY * (kh - 1)), max(1, _GRID_DENSITY * (kw - 1)))
    sigma = np.pi * ((kh - 1) / m[0] + (kw - 1) / m[1])
    kernel_hat = np.moveaxis(np.fft.rfft2(w, s=m), (0, 1), (2, 3))  # [mh, mw//2+1, o, i]
    grid_max = np.linalg.svd(kernel_hat, compute_uv=False).max()
    return float(grid_max / np.sqrt(1.0 - sigma**2 / 2))


def conv_lipschitz_bound(kernel) -> float:
    """Certified, image-size independent upper bound of a convolution's ℓ2 operator norm.

    Both bounds below bound the norm ``‖C‖ = sup_ω ‖K̂(ω)‖₂`` of the convolution ``C``
    with kernel ``K`` ``[c_out, c_in, kh, kw]`` on the infinite plane, hence the norm of a
    zero-padded convolution of any image size and padding (``R C E`` with ``E`` the zero
    extension, an isometry, and ``R`` a restriction) and of a circular one on any grid
    (``max ‖K̂‖`` over a subset of frequencies). The smaller one is returned; both are
    computed in float64 on the host (relative rounding ~1e-15).

    * Schur bound ``sqrt(ρ(B))``, ``B = Σ_δ |P_δ|`` ``[c_in, c_in]``, with ``P = Kᵀ ⋆ K``
      the self cross-correlation over all ``(2kh − 1)(2kw − 1)`` offsets and ``ρ`` the
      largest eigenvalue of the symmetric non-negative ``B``: the entries of
      ``K̂(ω)ᴴK̂(ω) = Σ_δ P_δ e^{−iω·δ}`` have moduli at most those of ``B``, so
      ``‖C‖² ≤ ρ(B)``. It is the Schur test with the best (Perron) weights; for an
      AOL-rescaled kernel ``B' = D B D`` has row sums ``d_j² Σ_i B_ji = 1`` for the
      weights ``1/d``, so this bound is ``<= 1``: it certifies AOL's guarantee exactly.
    * Grid bound ``max_grid ‖K̂‖₂ / sqrt(1 − σ²/2)`` on the ``mh × mw`` DFT grid,
      ``m = 64 (k − 1)`` per axis, ``σ = π ((kh − 1)/mh + (kw − 1)/mw)``: at a maximizer
      ``ω*`` of ``λmax(K̂ᴴK̂)`` with top eigenvector ``u``, ``g(ω) = ‖K̂(ω)u‖²`` is a
      trigonometric polynomial of degree ``k − 1`` per axis, ``0 <= g <= λ* = g(ω*)``
      and ``∇g(ω*) = 0``; along the segment to the nearest grid point (``|Δ_a| <= π/m_a``)
      it has exponential type ``<= σ``, so Bernstein's inequality gives ``|g''| <= σ² λ*``
      and ``λmax`` at that grid point is ``>= g >= λ* (1 − σ²/2)``. It overestimates
      ``‖C‖`` by at most 0.24 % and is the tight one for a contractive kernel.

    Args:
        kernel: array ``[c_out, c_in, kh, kw]``.

    Returns:
        The bound, a Python float, never below the norm of the convolution.

    >>> conv_lipschitz_bound(np.full((1, 1, 1, 1), 0.5))
    0.5
    """
    w = np.asarray(kernel, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"`kernel` must be [c_out, c_in, kh, kw], got shape {w.shape}")
    return min(_schur_bound(w), _fourier_grid_bound(w))


@eqx.filter_jit
def _effective_kernel_jit(layer: AOLConv2d) -> jax.Array:
    return layer.effective_weight()


class AOLConv2d(LipschitzLayer):
    """Zero-padded ("SAME") 2-D convolution made 1-Lipschitz by AOL rescaling.

    Prach & Lampert (ECCV 2022), "Almost-orthogonal layers for efficient general-purpose
    Lipschitz networks", Theorem for convolutions: the applied kernel is ``K D`` (input
    channel ``j`` scaled by ``d_j``) with ``d_j = (Σ_i Σ_δ |(Kᵀ ⋆ K)_δ[j, i]|)^(−1/2)``,
    ``Kᵀ ⋆ K`` the full ``(2k − 1) × (2k − 1)`` cross-correlation of the kernel with
    itself. The Schur test then bounds the convolution on the infinite plane by 1, hence
    every zero-padded (or circular) restriction of it, for any image size: the layer is
    1-Lipschitz for ANY kernel; the scales are differentiable. It is not orthogonal in
    general (it can contract); the initialization, an orthogonal centre tap and zeros
    elsewhere (a ``1 × 1`` convolution, for which ``d = 1``), makes it an isometry when
    ``c_out >= c_in``.

    Args:
        in_channels: ``c_in``.
        out_channels: ``c_out``.
        kernel_size: side ``k`` of the kernel; even sizes pad one more pixel after.
        key: PRNG key.
        use_bias: add a per-output-channel bias.
        dtype: parameter dtype.

    Attributes:
        weight: free kernel ``[c_out, c_in, k, k]``.
        bias: ``[c_out]`` or ``None``.

    >>> conv = AOLConv2d(3, 8, 3, key=jax.random.key(0))
    >>> conv(jnp.ones((3, 10, 12))).shape
    (8, 10, 12)
    """

    weight: jax.Array
    bias: jax.Array | None
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    kernel_size: int = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        key: jax.Array,
        use_bias: bool = True,
        dtype=jnp.float32,
    ):
        _check_positive(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size)
        centre = jax.nn.initializers.orthogonal()(key, (out_channels, in_channels), dtype)
        c = kernel_size // 2
        weight = jnp.zeros((out_channels, in_channels, kernel_size, kernel_size), dtype)
        self.weight = weight.at[:, :, c, c].set(centre)
        self.bias = jnp.zeros((out_channels,), dtype) if use_bias else None
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = int(kernel_size)

    def effective_weight(self) -> jax.Array:
        """The applied kernel ``K D`` ``[c_out, c_in, k, k]``."""
        return self.weight * _aol_scales(self.weight)[None, :, None, None]

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x`` ``[c_in, h, w]`` → ``[c_out, h, w]``."""
        _check_image(x, self.in_channels, None, "AOLConv2d")
        return _conv_same(self.effective_weight(), x, self.bias)

    def export(self) -> FrozenConv2d:
        """A :class:`FrozenConv2d` holding ``K D`` and the bias (same outputs)."""
        return FrozenConv2d(self.effective_weight(), self.bias)

    def lipschitz_bound(self) -> float:
        """:func:`conv_lipschitz_bound` of the applied kernel: certified for every image
        size, ``<= 1`` up to float rounding."""
        return conv_lipschitz_bound(_effective_kernel_jit(self))


class FrozenConv2d(eqx.Module):
    """Plain zero-padded ("SAME") convolution with a precomputed kernel.

    Produced by :meth:`AOLConv2d.export`.

    Attributes:
        weight: ``[c_out, c_in, k, k]``.
        bias: ``[c_out]`` or ``None``.
    """

    weight: jax.Array
    bias: jax.Array | None

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x`` ``[c_in, h, w]`` → ``[c_out, h, w]``."""
        _check_image(x, self.weight.shape[1], None, "FrozenConv2d")
        return _conv_same(self.weight, x, self.bias)

    def lipschitz_bound(self) -> float:
        """:func:`conv_lipschitz_bound` of the stored kernel (any image size)."""
        return conv_lipschitz_bound(self.weight)
