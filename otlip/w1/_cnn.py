"""``LipschitzCNN``: a 1-Lipschitz convolutional classifier."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import numpy as np

from otlip.w1._conv import (
    AOLConv2d,
    ChannelGroupSort,
    InvertibleDownsampling,
    OrthogonalConv2d,
    _check_positive,
)
from otlip.w1._layers import BjorckDense, GroupSort

__all__ = ["CONV_LAYERS", "LipschitzCNN"]

#: The convolutions ``LipschitzCNN(conv=...)`` accepts.
CONV_LAYERS: tuple[str, ...] = ("orthogonal", "aol")


class LipschitzCNN(eqx.Module):
    """1-Lipschitz CNN: Lipschitz convolutions and GroupSort, then Björck dense layers.

    ``[in_channels, n, n]`` → ``[n_classes]`` logits:

    * block 0: a stride-1 convolution ``in_channels → channels[0]`` on ``n × n``;
    * block ``b >= 1``: a stride-2 downsampling and a convolution
      ``channels[b−1] → channels[b]`` on ``n / 2^b``; with ``conv="orthogonal"`` it is
      :class:`OrthogonalConv2d` with ``stride=2`` (itself a pixel-unshuffle then a
      circular Cayley convolution), with ``conv="aol"`` an
      :class:`InvertibleDownsampling` then a zero-padded :class:`AOLConv2d`;
    * every convolution is followed by :class:`ChannelGroupSort` (GroupSort over the
      channels at each pixel);
    * the last feature map is flattened and followed by :class:`BjorckDense` layers of
      widths ``dense_hidden`` with :class:`GroupSort`, and a :class:`BjorckDense` to
      ``n_classes``.

    Every layer is 1-Lipschitz (the activations and the downsampling are
    permutations), so the network is 1-Lipschitz end to end; :meth:`lipschitz_bound`
    certifies it. With ``conv="orthogonal"`` the convolutions are orthogonal when
    ``channels[b] >= 4 channels[b−1]`` (``>= in_channels`` for block 0), otherwise
    1-Lipschitz with orthonormal rows per frequency; AOL convolutions can contract.

    Args:
        in_channels: input channels.
        image_size: input side ``n`` (square images), divisible by ``2^(len(channels)−1)``.
        n_classes: number of logits ``K``.
        key: PRNG key.
        channels: output channels of the convolution blocks, each divisible by
            ``group_size``.
        conv: ``"orthogonal"`` (Cayley, circular padding) or ``"aol"`` (zero padding).
        kernel_size: convolution kernel side.
        dense_hidden: hidden widths of the dense part, each divisible by ``group_size``.
        group_size: GroupSort group size.

    >>> import jax.numpy as jnp
    >>> net = LipschitzCNN(1, 8, 3, key=jax.random.key(0), channels=(4, 8))
    >>> net.batched(jnp.zeros((5, 1, 8, 8))).shape
    (5, 3)
    """

    features: tuple[eqx.Module, ...]
    dense: tuple[eqx.Module, ...]
    activation: GroupSort
    in_channels: int = eqx.field(static=True)
    image_size: int = eqx.field(static=True)
    n_classes: int = eqx.field(static=True)
    conv: str = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        n_classes: int,
        *,
        key: jax.Array,
        channels: Sequence[int] = (16, 32),
        conv: str = "orthogonal",
        kernel_size: int = 3,
        dense_hidden: Sequence[int] = (64,),
        group_size: int = 2,
    ):
        _check_positive(
            in_channels=in_channels,
            image_size=image_size,
            n_classes=n_classes,
            kernel_size=kernel_size,
            group_size=group_size,
        )
        if conv not in CONV_LAYERS:
            raise ValueError(f"`conv` must be one of {CONV_LAYERS}, got {conv!r}")
        channels = tuple(channels)
        dense_hidden = tuple(dense_hidden)
        if not channels:
            raise ValueError("`channels` must hold at least one convolution block")
        for name, widths in (("channels", channels), ("dense_hidden", dense_hidden)):
            for width in widths:
                _check_positive(**{name: width})
                if width % group_size:
                    raise ValueError(
                        f"`{name}` entry {width} is not divisible by `group_size` {group_size}"
                    )
        downsampling = 2 ** (len(channels) - 1)
        if image_size % downsampling:
            raise ValueError(
                f"`image_size` {image_size} is not divisible by {downsampling}: each of the "
                f"{len(channels) - 1} blocks after the first halves the image"
            )
        smallest = image_size // downsampling
        if conv == "orthogonal" and kernel_size > smallest:
            raise ValueError(
                f"`kernel_size` {kernel_size} is larger than the smallest feature map "
                f"{smallest} × {smallest} (circular convolutions cannot be wider than the image)"
            )

        keys = jax.random.split(key, len(channels) + len(dense_hidden) + 1)
        activation = ChannelGroupSort(group_size)
        features: list[eqx.Module] = []
        c_prev, size = in_channels, image_size
        for b, (c, k) in enumerate(zip(channels, keys[: len(channels)])):
            stride = 1 if b == 0 else 2
            if conv == "orthogonal":
                features.append(
                    OrthogonalConv2d(c_prev, c, kernel_size, size, key=k, stride=stride)
                )
            else:
                if stride > 1:
                    features.append(InvertibleDownsampling(stride))
                features.append(AOLConv2d(c_prev * stride**2, c, kernel_size, key=k))
            features.append(activation)
            c_prev, size = c, size // stride
        dims = (c_prev * size * size, *dense_hidden, n_classes)
        self.features = tuple(features)
        self.dense = tuple(
            BjorckDense(d_in, d_out, key=k)
            for d_in, d_out, k in zip(dims[:-1], dims[1:], keys[len(channels) :])
        )
        self.activation = GroupSort(group_size)
        self.in_channels = int(in_channels)
        self.image_size = int(image_size)
        self.n_classes = int(n_classes)
        self.conv = conv

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x`` ``[in_channels, n, n]`` → logits ``[n_classes]``."""
        want = (self.in_channels, self.image_size, self.image_size)
        if x.shape != want:
            raise ValueError(
                f"LipschitzCNN takes ONE image of shape {want} (use `batched` for a batch), "
                f"got {tuple(x.shape)}"
            )
        for layer in self.features:
            x = layer(x)
        x = x.reshape(-1)
        for layer in self.dense[:-1]:
            x = self.activation(layer(x))
        return self.dense[-1](x)

    def batched(self, x: jax.Array) -> jax.Array:
        """``x`` ``[batch, in_channels, n, n]`` → logits ``[batch, n_classes]``.

        The normalized operators (Cayley solves, AOL scales, Björck iterations) do not
        depend on the input: under ``vmap`` they are computed once for the batch. The
        call is compiled (``eqx.filter_jit``, inlined in a caller's ``jit``): run op by
        op, a CNN's dozens of small operations would each be compiled separately.
        """
        if x.ndim != 4:
            raise ValueError(
                f"`batched` takes images [batch, channels, n, n], got {tuple(x.shape)}"
            )
        return _batched_jit(self, x)

    def lipschitz_bound(self) -> float:
        """Certified upper bound of the ℓ2 Lipschitz constant: the product of the
        layers' certified bounds (exact norms for the orthogonal convolutions and the
        dense layers, :func:`~otlip.w1._conv.conv_lipschitz_bound` for AOL ones; 1 for
        the permutations). Works on the network returned by ``freeze`` as well."""
        layers = (*self.features, *self.dense)
        return float(np.prod([layer.lipschitz_bound() for layer in layers]))


@eqx.filter_jit
def _batched_jit(net: LipschitzCNN, x: jax.Array) -> jax.Array:
    return jax.vmap(net)(x)
