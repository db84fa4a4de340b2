"""Level sets of a scalar field on a 3-D grid: dense or Lipschitz-certified coarse to fine.

Both paths produce the same node grid (``indexing='ij'``: axis 0 is x, axis 1 is y,
axis 2 is z) and hand it to scikit-image's marching cubes (Lewiner). The certified
path uses ``|f(x) - f(y)| <= L ||x - y||`` twice. First on boxes: a box whose centre
satisfies ``|f(c) - level| > L * half_diagonal`` lies entirely on one side of the level
set, so its nodes only need a value of the right sign and none of its cells can hold
a triangle. Then on nodes, inside the boxes left: an evaluated node settles the sign
of the nodes within two grid steps that are closer than ``|f - level| / L``, so a cell
needs exact corners only if its settled signs disagree. Every cell that may hold a
triangle gets exact values at its eight corners, hence the mesh is the dense-grid
mesh, vertex for vertex, provided ``fn`` gives a point the same value in any batch
(the two grids batch nodes differently). Our networks do, on CPU and on the H100 we
measured (bench/README.md); a GPU kernel whose rounding changed with the batch's shape
could move the mesh by that rounding.

With ``exterior=True`` only the boundary of the exterior is kept: the nodes below the
level that a path of such nodes joins to the border of the box (border nodes count
as exterior, so a surface that reaches the border is capped there). Everything else
is solid: enclosed pockets below the level (the inside of a shell) are lifted above
it. The certified path then also skips every box that no path of non-positive boxes
joins to the border: such a box holds no exterior node, so none of its cells can
hold a triangle of the exterior's boundary.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import trimesh
from scipy import ndimage
from skimage.measure import marching_cubes

from otlip._batching import descending_batches, padded_apply

__all__ = ["LevelSetGrid", "evaluate_grid", "mesh_from_grid", "mesh_from_sdf"]

# Boxes that share a face, an edge or a corner: two nodes joined by a grid edge always
# lie in the closure of a common box.
_ALL_NEIGHBOURS = np.ones((3, 3, 3), dtype=bool)

# Batch sizes handed to ``fn``, largest first. A jitted ``fn`` compiles once per size,
# so there are three: a run of points is cut into the largest batches that fit, and
# only its tail (fewer than 1,024 points) is padded. Not larger: at 65,536 points a
# 128-wide network's activations are fresh memory at every call, and the page faults
# made its evaluation about 1.4x slower on CPU.
_BATCH_SIZES = (16384, 4096, 1024)
# Size of the smallest boxes certified from their centre. Below it, nodes settle each
# other's signs (``_single_cells``); size-2 centres would only repeat that work.
_LAST_BOX = 2


@dataclass(frozen=True)
class LevelSetGrid:
    """Values of a field on a regular grid of nodes, ready for marching cubes.

    Attributes:
        values: ``[nx, ny, nz]`` float32 node values (``indexing='ij'``). With the
            certified path, nodes far from the level set hold a stand-in of the
            right sign (the value at the centre of a certified box, or at an
            evaluated node close enough to certify the sign).
        exact: ``[nx, ny, nz]`` bool, true where ``values`` is ``fn`` itself.
        lo: ``[3]`` lower corner of the grid.
        hi: ``[3]`` upper corner of the grid.
        level: the iso-value.
        n_evaluations: number of points at which ``fn`` was evaluated.
    """

    values: np.ndarray
    exact: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    level: float
    n_evaluations: int

    @property
    def spacing(self) -> np.ndarray:
        """``[3]`` distance between neighbouring nodes along each axis."""
        shape = np.asarray(self.values.shape, dtype=np.float64)
        return (self.hi - self.lo) / (shape - 1.0)

    def node_coordinates(self, index: np.ndarray) -> np.ndarray:
        """Coordinates ``[m, 3]`` of integer node indices ``[m, 3]``."""
        return self.lo + np.asarray(index, dtype=np.float64) * self.spacing


def _check_bounds(bounds) -> tuple[np.ndarray, np.ndarray]:
    try:
        lo, hi = (np.asarray(b, dtype=np.float64) for b in bounds)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"`bounds` must be a pair (lo [3], hi [3]): {exc}") from exc
    if lo.shape != (3,) or hi.shape != (3,):
        raise ValueError(
            f"`bounds` must be a pair (lo [3], hi [3]); got shapes {lo.shape} and {hi.shape}"
        )
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise ValueError("`bounds` must be finite")
    if np.any(hi <= lo):
        raise ValueError(f"`bounds` must satisfy lo < hi on every axis, got lo={lo}, hi={hi}")
    return lo, hi


def _check_resolution(resolution) -> tuple[int, int, int]:
    res = np.broadcast_to(np.asarray(resolution), (3,))
    if not np.issubdtype(res.dtype, np.integer) or np.any(res < 2):
        raise ValueError(
            f"`resolution` must be an integer >= 2 (or three of them), got {resolution!r}"
        )
    return tuple(int(r) for r in res)


def _stand_ins(level: float, step: float) -> tuple[np.float32, np.float32]:
    """float32 values ``(below, above)`` a grid step off ``level``, strictly on each side.

    Where the step is under float32's rounding at the level (a level of 3e4 and a step
    of 1e-4), ``level ± step`` rounds to the level itself and a node would change sides;
    the value then moves to the next float32 out. Checked against the level both in
    float64 and rounded to float32, the two ways NumPy and marching cubes compare.
    """
    below, above = np.float32(level - step), np.float32(level + step)
    while not (float(below) < level and below < np.float32(level)):
        below = np.nextafter(below, np.float32(-np.inf))
    while not (float(above) > level and above > np.float32(level)):
        above = np.nextafter(above, np.float32(np.inf))
    return below, above


def _node_points(flat: np.ndarray, shape, lo: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """float32 coordinates ``[m, 3]`` of the nodes with C-order flat indices ``flat`` ``[m]``."""
    return (lo + np.stack(np.unravel_index(flat, shape), axis=1) * spacing).astype(np.float32)


def _evaluate(fn: Callable, points: np.ndarray) -> np.ndarray:
    """``fn`` on ``[m, 3]`` float32 points in padded batches; returns ``[m]`` float32."""
    m = points.shape[0]
    if m == 0:
        return np.empty((0,), dtype=np.float32)
    (vals,) = padded_apply(fn, points, descending_batches(m, _BATCH_SIZES))
    if vals.size != m:
        raise ValueError(f"`fn` must map points [n, 3] to values [n]; got {vals.shape} for {m}")
    out = vals.astype(np.float32, copy=False).reshape(m)
    if not np.all(np.isfinite(out)):
        raise ValueError("`fn` returned non-finite values (NaN or inf) on the grid")
    return out


def evaluate_grid(
    fn: Callable,
    bounds,
    resolution,
    level: float = 0.0,
    *,
    lipschitz: float | None = None,
    exterior: bool = False,
) -> LevelSetGrid:
    """Evaluate ``fn`` on a node grid, densely or coarse to fine with a Lipschitz bound.

    Args:
        fn: maps points ``[n, 3]`` to values ``[n]`` (NumPy or JAX arrays).
        bounds: ``(lo [3], hi [3])``, the box covered by the grid.
        resolution: nodes per axis (int or three ints), at least 2.
        level: iso-value of interest.
        lipschitz: a Lipschitz constant of ``fn`` for the Euclidean norm. ``None``
            evaluates every node; a number evaluates coarse to fine and only
            refines boxes that may meet the level set (certified by the bound).
        exterior: keep only the boundary of the exterior (module docstring): border
            nodes not below ``level`` are set one grid step below it, enclosed nodes
            below it one grid step above it, so the grid's level set is one closed
            surface per exterior boundary (the outer sheet of a shell, say). Both
            paths give the same values on every cell that the level crosses.

    Returns:
        A :class:`LevelSetGrid`; its cells crossing ``level`` have exact corners
        (except the nodes that ``exterior`` moved).

    >>> import numpy as np
    >>> shell = lambda x: 0.1 - np.abs(np.linalg.norm(x, axis=1) - 0.7)  # two sheets
    >>> box = ([-1.0] * 3, [1.0] * 3)
    >>> both = mesh_from_grid(evaluate_grid(shell, box, 64, lipschitz=1.0))
    >>> grid = evaluate_grid(shell, box, 64, lipschitz=1.0, exterior=True)
    >>> outer = mesh_from_grid(grid)
    >>> len(both.split()), len(outer.split()), round(float(outer.bounds[1, 0]), 2)
    (2, 1, 0.8)
    """
    lo, hi = _check_bounds(bounds)
    res = _check_resolution(resolution)
    level = float(level)
    if not np.isfinite(level):
        raise ValueError(f"`level` must be finite, got {level}")
    spacing = (hi - lo) / (np.asarray(res, dtype=np.float64) - 1.0)
    if lipschitz is None:
        grid = _dense(fn, lo, hi, res, spacing, level)
        return _keep_exterior(fn, grid) if exterior else grid
    lipschitz = float(lipschitz)
    if not (np.isfinite(lipschitz) and lipschitz > 0):
        raise ValueError(f"`lipschitz` must be a positive number, got {lipschitz}")
    return _coarse_to_fine(fn, lo, hi, res, spacing, level, lipschitz, bool(exterior))


def _dense(fn, lo, hi, res, spacing, level) -> LevelSetGrid:
    total = res[0] * res[1] * res[2]
    values = np.empty((total,), dtype=np.float32)
    step = _BATCH_SIZES[0]
    for start in range(0, total, step):
        flat = np.arange(start, min(total, start + step))
        values[start : start + flat.shape[0]] = _evaluate(fn, _node_points(flat, res, lo, spacing))
    values = values.reshape(res)
    return LevelSetGrid(values, np.ones(res, dtype=bool), lo, hi, level, total)


def _coarse_to_fine(fn, lo, hi, res, spacing, level, lipschitz, exterior) -> LevelSetGrid:
    # Exact node values found so far (NaN: not evaluated). Box centres that fall on
    # nodes are kept: the single-cell stage reuses them instead of calling ``fn`` again.
    node_values = np.full((int(np.prod(res)),), np.nan, dtype=np.float32)
    # Relative slack for float32 evaluation of ``fn``: certify only with room to spare.
    slack = 1e-5 * (1.0 + abs(level))
    off_level = _stand_ins(level, float(np.min(spacing)))
    starts, block, fill, evaluated, n_eval = _certify_boxes(
        fn, lo, res, spacing, level, lipschitz, exterior, node_values, slack, off_level
    )
    sign = None
    if starts.shape[0] > 0:
        # The last stage settles signs; the cells that cross the level are found on the
        # assembled grid below (with ``exterior``, only once the exterior is known).
        sign, calls = _single_cells(
            fn, lo, res, spacing, level, lipschitz, slack, starts, block, node_values, evaluated
        )
        n_eval += calls
    values, exact = _assemble(node_values, fill, sign, res, block, off_level)
    # Let go of the full-grid signs before the exterior's grids are allocated: those
    # then reuse that memory. Fresh memory costs page faults, about a tenth of the first
    # pipeline-mode call at 256^3.
    sign = None
    grid = LevelSetGrid(values, exact, lo, hi, level, n_eval)
    if exterior:
        return _keep_exterior(fn, grid)
    # Every node has a value of the right sign now, so the cells with corners on both
    # sides are the crossing cells; they need exact values at all eight corners.
    # Found on the whole grid with slices (0.03-0.07 s at 256^3), several times faster
    # than gathering the corners of the last boxes' cells.
    return _evaluate_corners(fn, grid, _crossing_cells(np.less_equal(values, level)))


def _certify_boxes(fn, lo, res, spacing, level, lipschitz, exterior, node_values, slack, off_level):
    """Halve boxes down to ``_LAST_BOX`` cells, keeping the ones the Lipschitz bound
    cannot certify. Returns the lower corners of the boxes left and their size, the
    stand-in values of the certified ones (one entry per box of that size), the flat
    indices of the nodes evaluated on the way, and the number of evaluations."""
    cells = np.asarray(res) - 1
    # Coarsest boxes: a power of two about an eighth of the grid, so that the first
    # pass is a few hundred evaluations.
    block = 1 << max(0, int(np.floor(np.log2(max(1, int(cells.max()) // 8)))))
    n_eval = 0
    evaluated = [np.empty(0, dtype=np.intp)]  # their flat indices, one array per box size
    # Lower-corner cell indices of the boxes still in play at the current size.
    starts = np.stack(
        np.meshgrid(*(np.arange(0, c, block) for c in cells), indexing="ij"), axis=-1
    ).reshape(-1, 3)
    # Stand-in values of certified boxes, one entry per box of the current size
    # (NaN: not certified); refined by repeating entries as the boxes halve.
    fill = np.full(tuple(-(-cells // block)), np.nan, dtype=np.float32)
    while block > _LAST_BOX and starts.shape[0] > 0:
        ends = np.minimum(starts + block, cells)
        centres = lo + 0.5 * (starts + ends) * spacing
        half_diag = 0.5 * np.linalg.norm((ends - starts) * spacing, axis=1)
        f = _evaluate(fn, centres.astype(np.float32))
        n_eval += f.shape[0]
        on_node = np.all((ends - starts) % 2 == 0, axis=1)
        evaluated.append(np.ravel_multi_index(((starts + ends)[on_node] // 2).T, res))
        node_values[evaluated[-1]] = f[on_node]
        certified = np.abs(f.astype(np.float64) - level) > lipschitz * half_diag + slack
        bidx = starts[certified] // block
        fill[bidx[:, 0], bidx[:, 1], bidx[:, 2]] = f[certified]
        todo = starts[~certified]
        if exterior:
            todo = _drop_enclosed(fill, todo, block, level, off_level[1])
        half = block // 2
        offsets = np.stack(
            np.meshgrid(*([np.array([0, half])] * 3), indexing="ij"), axis=-1
        ).reshape(-1, 3)
        children = (todo[:, None, :] + offsets[None, :, :]).reshape(-1, 3)
        starts = children[np.all(children < cells, axis=1)]
        fill = _refine(fill, 2, -(-cells // half))
        block = half
    return starts, block, fill, np.concatenate(evaluated), n_eval


def _assemble(node_values, fill, sign, res, block, off_level):
    """The full grid of values in ``node_values`` (reshaped, in place) and its mask of
    exact values.

    A node takes the value of the certified box (``fill`` holds one entry per box of
    size ``block``) holding cell min(node, cells - 1); boxes are closed, so any box
    holding the node certifies its sign. Nodes settled or evaluated in the last stage
    take precedence; settled nodes take a value one grid step off the level on their
    side. Assembled one slab of x at a time: at 256^3 a fresh full-grid array costs
    page faults on every call.
    """
    cells = np.asarray(res) - 1
    box_of = [np.minimum(np.arange(r), c - 1) // block for r, c in zip(res, cells)]
    values = node_values.reshape(res)
    exact = ~np.isnan(values)
    slab = max(1, (1 << 20) // (res[1] * res[2]))
    for x0 in range(0, res[0], slab):
        rows = slice(x0, x0 + slab)
        # One gather per axis: a 3-D fancy index (np.ix_) took four times as long.
        stand_in = fill.take(box_of[0][rows], axis=0).take(box_of[1], axis=1)
        stand_in = stand_in.take(box_of[2], axis=2)
        if sign is not None:
            side = sign.reshape(res)[rows]
            np.copyto(stand_in, off_level[1], where=side > 0)
            np.copyto(stand_in, off_level[0], where=side < 0)
        np.copyto(values[rows], stand_in, where=~exact[rows])
    if np.isnan(values.min()):  # cannot happen: every cell is certified or exact
        raise RuntimeError("coarse-to-fine extraction left nodes without a value")
    return values, exact


def _drop_enclosed(fill, todo, block, level, above) -> np.ndarray:
    """The uncertified boxes ``todo`` that a path of non-positive boxes joins to the border.

    A box whose closure holds an exterior node is one of them: the grid edges of a
    path of below-level nodes to the border lie in boxes that are not certified
    above the level, each sharing a node with the next, the last one touching the
    border. The others are marked solid in ``fill`` (value ``above``), which also
    makes them barriers at the finer sizes.

    Args:
        fill: ``[bx, by, bz]`` box values at this size (NaN: uncertified), updated in
            place.
        todo: ``[m, 3]`` lower-corner cell indices of the uncertified boxes.
        block: box size in cells.
        level: the iso-value.
        above: stand-in value above the level.

    Returns:
        ``[k, 3]``, the rows of ``todo`` to refine.
    """
    if todo.shape[0] == 0:
        return todo
    labels, _ = ndimage.label(~(fill > level), structure=_ALL_NEIGHBOURS)
    faces = [labels[[0, -1], :, :], labels[:, [0, -1], :], labels[:, :, [0, -1]]]
    on_border = np.unique(np.concatenate([f.ravel() for f in faces]))
    box = todo // block
    keep = np.isin(labels[box[:, 0], box[:, 1], box[:, 2]], on_border[on_border > 0])
    drop = box[~keep]
    fill[drop[:, 0], drop[:, 1], drop[:, 2]] = above
    return todo[keep]


def _strides(res) -> np.ndarray:
    """Flat-index steps ``[3]`` along each axis of a C-ordered grid of ``res`` nodes."""
    return np.array([res[1] * res[2], res[2], 1])


def _corner_mask(cell_flat: np.ndarray, res) -> np.ndarray:
    """``[prod(res)]`` bool: the 8 corners of the cells whose lower corners are ``cell_flat``."""
    mark = np.zeros(int(np.prod(res)), dtype=bool)
    strides = _strides(res)
    for corner in itertools.product((0, 1), repeat=3):
        mark[cell_flat + int(np.dot(corner, strides))] = True
    return mark


def _parity(index) -> np.ndarray:
    """Parity class ``4 (i % 2) + 2 (j % 2) + k % 2`` of integer indices ``[..., 3]``, int8."""
    index = np.asarray(index)
    return (4 * (index[..., 0] % 2) + 2 * (index[..., 1] % 2) + index[..., 2] % 2).astype(np.int8)


def _box_offsets(boxes: np.ndarray, span: int, last: np.ndarray):
    """``(offset, ok)`` for every offset in ``range(span)^3``: ``ok`` ``[m]`` bool marks
    the boxes ``[m, 3]`` whose index ``boxes + offset`` stays within ``last`` ``[3]``."""
    # fits[axis][o]: the index at offset o along ``axis`` lies within ``last``.
    fits = [[boxes[:, a] + o <= last[a] for o in range(span)] for a in range(3)]
    for offset in itertools.product(range(span), repeat=3):
        yield offset, fits[0][offset[0]] & fits[1][offset[1]] & fits[2][offset[2]]


def _box_nodes(
    boxes: np.ndarray, block: int, res, mark: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The nodes of the boxes ``[m, 3]`` (lower-corner cells, ``block`` cells a side).

    Returns ``(nodes, parity)``: sorted flat indices ``[n]`` and their parity classes
    ``[n]`` (int8). Built from the boxes alone: unravelling millions of flat indices
    (integer divisions) cost more than the network's evaluations of them. ``mark``,
    ``[prod(res)]`` int8 zeros, is scratch space, left zero.
    """
    strides = _strides(res)
    base = boxes @ strides
    start_parity = _parity(boxes)
    # mark: parity class + 1 at the boxes' nodes, 0 elsewhere.
    for offset, ok in _box_offsets(boxes, block + 1, np.asarray(res) - 1):
        mark[base[ok] + int(np.dot(offset, strides))] = (start_parity[ok] ^ _parity(offset)) + 1
    nodes = np.flatnonzero(mark)
    parity = mark[nodes] - 1
    mark[nodes] = 0
    return nodes, parity


def _single_cells(
    fn,
    lo,
    res,
    spacing,
    level,
    lipschitz,
    slack,
    boxes,
    block,
    node_values,
    evaluated,
):
    """Exact values or settled signs for the nodes of the last boxes' cells.

    Marching cubes needs exact values at the corners of the cells the level set crosses
    and only the right sign elsewhere. A node's sign is settled by an evaluated node
    ``m`` within two grid steps when ``lipschitz * dist + slack < |f(m) - level|``.
    The corners of the candidate cells are evaluated one parity class of the node
    lattice at a time (each cell has one corner per class), skipping nodes already
    settled. Afterwards every corner has an exact value or a settled sign; the caller
    finds the crossing cells and evaluates their missing corners.

    Args:
        boxes: ``[m, 3]`` lower-corner cell indices of the boxes left, ``block``
            cells a side (at most ``_LAST_BOX``).
        node_values: ``[prod(res)]`` exact values (NaN: unknown), updated in place.
        evaluated: flat indices of the nodes ``node_values`` holds (repeats allowed).

    Returns:
        ``(sign, n_evaluations)``: ``[prod(res)]`` int8, the side of the level (+1
        above, -1 below) of the nodes settled by a neighbour (0 where none did; exact
        nodes may carry a sign too, and their values win), and the number of calls
        to ``fn``.
    """
    n_eval = 0
    strides = _strides(res)
    sign = np.zeros(node_values.shape, dtype=np.int8)
    # Neighbours within two grid steps, and the gap each needs to inherit a sign.
    stencil = np.array(
        [o for o in itertools.product(range(-2, 3), repeat=3) if 0 < np.dot(o, o) <= 4]
    )
    reach = lipschitz * np.linalg.norm(stencil * spacing, axis=1) + slack
    shifts = stencil @ strides

    def evaluate(flat):
        node_values[flat] = _evaluate(fn, _node_points(flat, res, lo, spacing))
        return flat.shape[0]

    def settle(flat):
        _settle(flat, node_values, sign, level, res, stencil, reach, shifts)

    # The corners of the candidate cells, grouped by parity class.
    nodes, parity = _box_nodes(boxes, block, res, mark=sign)  # ``sign`` is still all zero
    # The box centres evaluated so far (size 4 and up: even-even-even nodes) spread
    # their signs first; then each parity class in turn, even-even-even first.
    settle(evaluated)
    # Grouped by class once (a stable argsort of int8): a mask per class took twice as long.
    by_class = nodes[np.argsort(parity, kind="stable")]
    class_start = np.concatenate([[0], np.cumsum(np.bincount(parity, minlength=8))])
    for p in (0, 4, 2, 1, 3, 5, 6, 7):
        todo = by_class[class_start[p] : class_start[p + 1]]
        todo = todo[np.isnan(node_values[todo]) & (sign[todo] == 0)]
        if todo.shape[0] > 0:
            n_eval += evaluate(todo)
            settle(todo)
    return sign, n_eval


def _settle(flat, node_values, sign, level, res, stencil, reach, shifts) -> None:
    """Spread the signs of the exact nodes ``flat`` to their neighbours (``sign``, in
    place): a neighbour at stencil offset ``k`` is settled when the node's gap to the
    level exceeds ``reach[k]``."""
    v = node_values[flat]
    gap = np.abs(v.astype(np.float64) - level)
    keep = gap > reach.min()
    flat, v, gap = flat[keep], v[keep], gap[keep]
    index = np.unravel_index(flat, res)
    inner = np.ones(flat.shape[0], dtype=bool)
    for i, r in zip(index, res):
        inner &= (i >= 2) & (i < r - 2)
    # Nodes two steps or more from the faces pass every offset: sorted by decreasing
    # gap, those that settle a neighbour are a prefix, so no mask per offset.
    order = np.argsort(-gap[inner])
    inner_flat, inner_gap = flat[inner][order], -gap[inner][order]
    inner_side = np.where(v[inner][order] > level, 1, -1).astype(np.int8)
    for r, shift in zip(reach, shifts):
        count = np.searchsorted(inner_gap, -r)
        sign[inner_flat[:count] + shift] = inner_side[:count]
    # The others, near the faces, check that each neighbour is a node.
    outer = ~inner
    flat, v, gap = flat[outer], v[outer], gap[outer]
    side = np.where(v > level, 1, -1).astype(np.int8)
    # in_range[axis][d + 2]: the neighbour at offset d along ``axis`` is a node.
    in_range = [
        [(i[outer] + d >= 0) & (i[outer] + d < r) for d in range(-2, 3)] for i, r in zip(index, res)
    ]
    for (dx, dy, dz), r, shift in zip(stencil, reach, shifts):
        ok = (gap > r) & in_range[0][dx + 2] & in_range[1][dy + 2] & in_range[2][dz + 2]
        sign[flat[ok] + shift] = side[ok]


def _keep_exterior(fn, grid: LevelSetGrid) -> LevelSetGrid:
    """Exterior-only values (``evaluate_grid``), with exact corners where the level crosses.

    ``grid`` must give every node a value of the right sign; its arrays are updated in
    place (the callers built them: at 256^3 every fresh full-grid array costs page
    faults). The exterior is the set of nodes that face-connected paths of below-level
    nodes join to the border (face connectivity: marching cubes keeps two below-level
    nodes apart across a cell's diagonal), border nodes included.
    """
    level = grid.level
    values, exact = grid.values, grid.exact
    stand_below, stand_above = _stand_ins(level, float(np.min(grid.spacing)))
    below = values < level
    # Cap the border first: every border node is then below the level, and the border
    # is face-connected, so the exterior is the component of any one border node.
    capped = []
    for face in (np.s_[[0, -1], :, :], np.s_[:, [0, -1], :], np.s_[:, :, [0, -1]]):
        cap = ~below[face]
        if cap.any():
            values[face] = np.where(cap, stand_below, values[face])
            exact[face] = exact[face] & ~cap
            below[face] = True
            capped.append((face, cap))
    try:  # 16-bit labels: half the fresh memory of the default int32 ones
        labels, _ = ndimage.label(below, output=np.uint16)
    except RuntimeError:  # more than 65,535 components
        labels, _ = ndimage.label(below)
    outside = labels == labels[0, 0, 0]
    del labels
    # ``np.greater`` on booleans is ``a & ~b``, in place (at 256^3 a temporary costs
    # page faults): ``below`` becomes the enclosed nodes, lifted above the level.
    moved = np.greater(below, outside, out=below)
    np.copyto(values, stand_above, where=moved)
    np.greater(exact, moved, out=exact)
    for face, cap in capped:
        moved[face] = moved[face] | cap
    crossing = _crossing_cells(outside)
    del outside
    return _evaluate_corners(fn, grid, crossing, skip=moved)


def _crossing_cells(below: np.ndarray) -> np.ndarray:
    """The cells with corners on both sides of a node mask ``below`` (the grid's shape).

    Returns:
        Flat node indices of their lower corners, sorted.
    """
    shape = below.shape
    nx, ny, nz = (n - 1 for n in shape)
    some, every = np.zeros((nx, ny, nz), dtype=bool), np.ones((nx, ny, nz), dtype=bool)
    for dx, dy, dz in itertools.product((0, 1), repeat=3):
        corner = below[dx : dx + nx, dy : dy + ny, dz : dz + nz]
        some |= corner
        every &= corner
    # ``np.greater`` on booleans is ``a & ~b``, in place.
    crossing = np.flatnonzero(np.greater(some, every, out=some))
    return np.ravel_multi_index(np.unravel_index(crossing, (nx, ny, nz)), shape)


def _evaluate_corners(fn, grid: LevelSetGrid, cells: np.ndarray, skip=None) -> LevelSetGrid:
    """``grid`` with exact values at every corner of ``cells`` (lower-corner flat indices).

    The corners already exact, and those where ``skip`` (bool, the grid's shape) is
    true, are left as they are. ``grid``'s arrays are updated in place.
    """
    shape = grid.values.shape
    values, exact = grid.values.reshape(-1), grid.exact.reshape(-1)
    # A scatter over the cells alone, then one pass over the grid.
    need = np.flatnonzero(_corner_mask(cells, shape))
    keep = ~exact[need]
    if skip is not None:
        keep &= ~skip.reshape(-1)[need]
    need = need[keep]
    if need.shape[0] > 0:
        values[need] = _evaluate(fn, _node_points(need, shape, grid.lo, grid.spacing))
        exact[need] = True
    n_eval = grid.n_evaluations + need.shape[0]
    return LevelSetGrid(grid.values, grid.exact, grid.lo, grid.hi, grid.level, n_eval)


def _refine(coarse: np.ndarray, factor: int, shape) -> np.ndarray:
    """Repeat every entry ``factor`` times along each axis and crop to ``shape``."""
    if factor == 1:
        return coarse[: shape[0], : shape[1], : shape[2]]
    out = coarse
    for axis in range(3):
        out = np.repeat(out, factor, axis=axis)
    return np.ascontiguousarray(out[: shape[0], : shape[1], : shape[2]])


def mesh_from_grid(
    grid: LevelSetGrid, *, inside: Literal["above", "below"] = "above"
) -> trimesh.Trimesh:
    """Marching cubes (Lewiner, scikit-image) on a :class:`LevelSetGrid`.

    Args:
        grid: node values and geometry.
        inside: ``"above"`` if the solid is where the field exceeds the level
            (signed distances positive inside, the convention of this package),
            ``"below"`` for the graphics convention (negative inside). Faces are
            wound so that normals point out of the solid.

    Returns:
        A ``trimesh.Trimesh`` in world coordinates.

    Raises:
        ValueError: if the level is not crossed inside the grid.
    """
    if inside not in ("above", "below"):
        raise ValueError(f"`inside` must be 'above' or 'below', got {inside!r}")
    vmin, vmax = float(grid.values.min()), float(grid.values.max())
    if not (vmin < grid.level < vmax):
        raise ValueError(
            f"the level {grid.level:.6g} is not crossed inside the bounds "
            f"(the field ranges over [{vmin:.6g}, {vmax:.6g}]); widen the bounds or "
            "change the level"
        )
    verts, faces, _, _ = marching_cubes(
        grid.values,
        level=grid.level,
        spacing=tuple(float(s) for s in grid.spacing),
        gradient_direction="ascent" if inside == "above" else "descent",
        method="lewiner",
    )
    verts = verts.astype(np.float64) + grid.lo
    return trimesh.Trimesh(vertices=verts, faces=faces, process=False)


def mesh_from_sdf(
    fn: Callable,
    bounds,
    resolution,
    level: float = 0.0,
    *,
    lipschitz: float | None = None,
    inside: Literal["above", "below"] = "above",
) -> trimesh.Trimesh:
    """Mesh the level set ``{x : fn(x) = level}`` inside a box with marching cubes.

    Args:
        fn: maps points ``[n, 3]`` to values ``[n]``; called on batches of 16,384,
            4,096 or 1,024 points (a jitted function compiles three times at most).
        bounds: ``(lo [3], hi [3])``; the grid is built with ``indexing='ij'`` so
            mesh coordinates are world coordinates along the same axes.
        resolution: nodes per axis (int or three ints).
        level: iso-value.
        lipschitz: if given, a Lipschitz constant of ``fn``: extraction runs coarse to
            fine and yields the same mesh as the dense grid with far fewer calls.
            Leave ``None`` for a function without a known bound.
        inside: ``"above"`` (solid where ``fn > level``) or ``"below"``; sets the
            face winding so that normals point outwards.

    Returns:
        A ``trimesh.Trimesh`` (unprocessed: vertices exactly as marching cubes put them).

    >>> import numpy as np
    >>> ball = lambda x: 1.0 - np.linalg.norm(x, axis=1)  # positive inside
    >>> m = mesh_from_sdf(ball, ([-1.5] * 3, [1.5] * 3), 32)
    >>> bool(m.is_watertight)
    True
    """
    grid = evaluate_grid(fn, bounds, resolution, level, lipschitz=lipschitz)
    return mesh_from_grid(grid, inside=inside)
