"""Random null networks for motif significance: "layer-edges" and "degree-preserving".

Both nulls keep the network's layers and only rewire edges inside each layer block (layer l to
l+1, the bias node of layer l included), and their constraints factorise over blocks, so every
(sample, block) pair is an independent problem.

``"layer-edges"`` (the seed study's null, made exact; study-protocol.md)
    After removing ineffectual neurons, call a neuron live if it has an edge. A null network has
    in every block exactly the real number of weight edges and of bias edges, placed only between
    live neurons (bias node -> live neurons of the next layer); every live neuron keeps at least
    one incoming edge (weight or bias; not inputs) and one outgoing edge (not outputs). It is
    drawn uniformly from all such networks: per block, by rejection (uniform edge subsets until
    one meets the constraints) where that is cheap, i.e. where the expected acceptance rate is at
    least :data:`REJECTION_MIN_ACCEPT` (exact), otherwise by a Metropolis chain of edge moves
    started at the real network (uniform stationary law; see :mod:`mothlib.motifs._mcmc`). A sample
    still rejected after :data:`REJECTION_MAX_ROUNDS` rounds continues as such a chain. The
    network must be clean (a ValueError says so otherwise).
``"degree-preserving"`` (Milo et al. 2002; mfinder's layer-keeping switching)
    Every neuron and bias node keeps its in- and out-degree within each block (the bias node is a
    source like any other, so its edges may trade targets with neurons' edges). Drawn by a chain
    of checkerboard swaps started at the real network (uniform stationary law).

Chain length: ``ceil(steps_per_token * L)`` steps per block, L = min(#edges, #absent slots) of
the block's live grid (the chain moves holes instead of edges in blocks over half full), so on
average every edge (or hole) is proposed for a move ``steps_per_token`` times (default
:data:`STEPS_PER_TOKEN`). The tests check uniformity on networks small enough to enumerate, and
that the chain and exact rejection agree on null means of a larger network. The samplers run in
numba (default), in vectorised numpy (the readable reference), in torch on any device
(``engine="torch"``, :mod:`mothlib.motifs.nulls_torch`, batched over samples), or with the chains on a
CUDA GPU (``engine="cuda"``, :mod:`mothlib.motifs._mcmc_cuda`, one thread per chain): all engines make
the same counter-based draws (:mod:`mothlib.core.streams`; the swap chain takes one splitmix64 output per
step and two positions from it by multiply-shift) and return identical samples.

Which counts a null cannot change (:data:`FIXED_COUNTS`): ``edges`` under both; under
degree-preserving also diverging2, converging2, chain2, diverging3 and converging3, which are
functions of the degrees alone. Their z-scores are undefined (null std 0).

Reproducibility: null sample k of a seed depends on (seed, null, k) only, never on how many
samples are drawn together, so ``sample_null(..., n_null=10, start=0)`` equals the concatenation of
``n=4, start=0`` and ``n=6, start=4``. Nor does it depend on which networks are drawn together:
:func:`sample_nulls` runs the chains of several networks in one call of the kernels (which saves
per-step and per-launch cost on the torch and cuda engines) and returns each network's
:func:`sample_null` samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mothlib.core.masks import as_masks, neurons_with_edges
from mothlib.core.streams import draw, sample_keys, sub_keys
from mothlib.core.validation import check_int
from mothlib.motifs.counts import remove_ineffectual

# numba's kernels (mothlib.motifs._mcmc) are imported by the functions that run chains: the
# study's table readers import this module for NULL_MODELS only.

__all__ = [
    "NULL_MODELS", "FIXED_COUNTS", "STEPS_PER_TOKEN", "REJECTION_MIN_ACCEPT",
    "REJECTION_MAX_ROUNDS", "ENGINES", "sample_null", "sample_nulls",
]

#: The null models, by name: the seed's null made exact and uniform, and Milo et al.'s switching null.
NULL_MODELS: tuple[str, ...] = ("layer-edges", "degree-preserving")
#: Motif counts that every sample of a null shares with the real network.
FIXED_COUNTS: dict[str, tuple[str, ...]] = {
    "layer-edges": ("edges",),
    "degree-preserving": ("edges", "diverging2", "converging2", "chain2", "diverging3", "converging3"),
}
#: Default chain length, in proposals per edge (or hole) of a block.
STEPS_PER_TOKEN: float = 10.0
#: "layer-edges" uses exact rejection sampling in a block whose estimated acceptance rate is
#: at least this; Metropolis moves otherwise.
REJECTION_MIN_ACCEPT: float = 0.05
#: A sample still rejected after this many rounds falls back to the Metropolis chain.
REJECTION_MAX_ROUNDS: int = 200
_REJECTION_BATCH_ELEMENTS = 2**23  # candidate slots drawn at once (64 MiB of uint64 keys)


@dataclass
class _Block:
    """The live grid of one layer block: rows = sources (+ bias node last), cols = targets."""

    src: np.ndarray  # neuron indices of layer l, one per source row
    tgt: np.ndarray  # neuron indices of layer l+1, one per column
    bias_row: bool  # whether row n_s is the bias node
    grid: np.ndarray  # (n_rows, n_t) bool, the real network's edges

    @property
    def n_s(self) -> int:
        return len(self.src)

    @property
    def n_t(self) -> int:
        return len(self.tgt)


def _live_blocks(ws: list[np.ndarray], bs: list[np.ndarray | None], null: str) -> list[_Block]:
    if null == "layer-edges":
        live = neurons_with_edges(ws, bs)
    blocks = []
    for l, (w, b) in enumerate(zip(ws, bs)):
        if null == "layer-edges":
            src, tgt = np.flatnonzero(live[l]), np.flatnonzero(live[l + 1])
            bias_row = b is not None
        else:
            tgt_live = w.any(axis=1) if b is None else (w.any(axis=1) | b)
            src, tgt = np.flatnonzero(w.any(axis=0)), np.flatnonzero(tgt_live)
            bias_row = b is not None and bool(b.any())
        grid = w[np.ix_(tgt, src)].T
        if bias_row:
            assert b is not None  # a bias row needs a bias mask
            grid = np.vstack([grid, b[tgt][None, :]])
        blocks.append(_Block(src, tgt, bias_row, np.ascontiguousarray(grid)))
    return blocks


def _acceptance(block: _Block) -> float:
    """Rough probability that uniform edge subsets meet the coverage constraints of a block."""
    n_s, n_t = block.n_s, block.n_t
    if n_s == 0 or n_t == 0:
        return 1.0
    m_w = int(block.grid[:n_s].sum())
    rho = m_w / (n_s * n_t)
    no_bias = 1.0
    if block.bias_row:
        no_bias = 1.0 - block.grid[n_s].sum() / n_t
    mu = n_s * (1 - rho) ** n_t + n_t * (1 - rho) ** n_s * no_bias
    return math.exp(-mu)


def _covered(grids: np.ndarray, n_s: int) -> np.ndarray:
    """(P,) whether every source row < n_s has an edge and every column has one (bias counts)."""
    # numpy's stubs type .any(axis=...) as a bool or an array: np.all/np.any type as arrays
    return np.all(np.any(grids[:, :n_s, :], axis=2), axis=1) & np.all(np.any(grids, axis=1), axis=1)


def _rejection(
    block: _Block, keys: np.ndarray, max_rounds: int, engine: str = "numpy"
) -> tuple[np.ndarray, np.ndarray]:
    """Exact uniform "layer-edges" grids by rejection; returns (grids (P, rows, n_t), accepted).

    Round r of sample p draws one key per slot, ``draw(key_p, r * n_slots + slot)``, and keeps
    the m smallest of each kind (weight, bias). Engine "numba" makes the same draws in a compiled
    loop (the draws are distinct, so the selection is the same).
    """
    n_s, n_t = block.n_s, block.n_t
    n_rows = block.grid.shape[0]
    n_w, n_all = n_s * n_t, n_rows * n_t
    m_w = int(block.grid[:n_s].sum())
    m_b = int(block.grid[n_s:].sum())
    if engine in ("numba", "auto", "cuda"):
        from mothlib.motifs import _mcmc

        out, done = _mcmc.rejection_numba(keys, n_s, n_t, n_rows, m_w, m_b, max_rounds)
        return out.reshape(-1, n_rows, n_t), done
    out = np.zeros((len(keys), n_all), dtype=bool)
    done = np.zeros(len(keys), dtype=bool)
    pending = np.arange(len(keys))
    batch = max(1, _REJECTION_BATCH_ELEMENTS // max(n_all, 1))  # bounds memory per round
    for rnd in range(max_rounds):
        if len(pending) == 0:
            break
        failed = []
        for b0 in range(0, len(pending), batch):
            ids = pending[b0 : b0 + batch]
            bits = draw(keys[ids, None], rnd * n_all + np.arange(n_all, dtype=np.uint64)[None, :])
            cand = np.zeros((len(ids), n_all), dtype=bool)
            rows = np.arange(len(ids))[:, None]
            # The m smallest keys of each kind: a uniformly random subset of that size.
            for lo, hi, m in ((0, n_w, m_w), (n_w, n_all, m_b)):
                if m == hi - lo:
                    cand[:, lo:hi] = True
                elif m > 0:
                    pick = np.argpartition(bits[:, lo:hi], m - 1, axis=1)[:, :m]
                    cand[rows, lo + pick] = True
            ok = _covered(cand.reshape(-1, n_rows, n_t), n_s)
            out[ids[ok]] = cand[ok]
            done[ids[ok]] = True
            failed.append(ids[~ok])
        pending = np.concatenate(failed)
    return out.reshape(-1, n_rows, n_t), done


def _check_tokens(n_tokens: int) -> None:
    if n_tokens >= 2**31:  # the swap chain's multiply-shift draws (mothlib.core.streams.two_below)
        raise ValueError(
            f"weight_masks: a layer block has {n_tokens} edges (or holes) to move, more than the "
            f"chains handle (2**31 - 1)"
        )


def _block_tokens(grid: np.ndarray) -> tuple[bool, np.ndarray]:
    """Whether a block's chain moves holes (over half full), and its tokens (flat slots)."""
    m, n_all = int(grid.sum()), grid.size
    hole = m > n_all - m
    flat = grid.ravel()
    return hole, np.flatnonzero(~flat if hole else flat)


def _swaps_into_masks(blocks, jobs, ws, bs, n, steps_per_token):
    """The "degree-preserving" samples by the numba chains, written straight into full masks.

    The samples of :func:`_run_chains` and :func:`_assemble` (the same chains and draws) without
    their per-chain bool grids: each chain writes its final edges into its sample's masks.
    """
    from mothlib.motifs import _mcmc

    keys_of = {i: k for i, ids, k in jobs}  # every job of this null holds all n samples
    out_w, out_b = [], []
    for i, (blk, w, b) in enumerate(zip(blocks, ws, bs)):
        fw = np.zeros((n,) + w.shape, dtype=bool)
        fb = None if b is None else np.zeros((n, b.shape[0]), dtype=bool)
        if i not in keys_of:
            # The real block is the only one: the masks as given (a neuron outside the live
            # grid has no edge in this block).
            fw[:] = w
            if fb is not None:
                fb[:] = b
        else:
            hole, tokens = _block_tokens(blk.grid)
            _check_tokens(len(tokens))
            slot_w = (blk.tgt[None, :] * w.shape[1] + blk.src[:, None]).ravel().astype(np.int64)
            slot_b = blk.tgt.astype(np.int64) if blk.bias_row else np.zeros(0, dtype=np.int64)
            _mcmc.swaps_into(
                tokens.astype(np.int64), max(blk.n_t, 1), math.ceil(steps_per_token * len(tokens)), hole,
                keys_of[i], slot_w, slot_b, fw.reshape(n, -1),
                fb if fb is not None else np.zeros((n, 0), dtype=bool),
            )
        out_w.append(fw)
        out_b.append(fb)
    return out_w, out_b


def _run_chains_torch(blocks, specs, null, arrays, device) -> list[Any]:
    """The chains of :func:`_run_chains` in torch on ``device``; per job grids (P, n_rows, n_t)."""
    import torch

    from mothlib.motifs import nulls_torch

    tok, L, bit, outdeg, indeg, n_s, n_t, hole, T, keys = (
        nulls_torch.to_int64(a, device) if a.dtype == np.uint64 else torch.from_numpy(a).to(device)
        for a in arrays
    )
    tok = tok.long()
    if null == "layer-edges":
        nulls_torch.moves(tok, L, bit, outdeg, indeg, n_s, n_t, hole, T, keys)
    else:
        nulls_torch.swaps(tok, L, bit, n_t, T, keys)
    out, c0 = [], 0
    for b, count, _k, h, _tokens, _flat, _steps in specs:
        grid = blocks[b].grid
        g = bit[c0 : c0 + count, : grid.size]
        out.append((~g if h else g).reshape((count,) + grid.shape))
        c0 += count
    return out


def _chain_specs(blocks: list[_Block], jobs: list[tuple[int, np.ndarray, np.ndarray]],
                 steps_per_token: float) -> list[tuple]:
    """Per job (block, chains, keys, hole, tokens, flat grid, steps) of :func:`_run_chains`."""
    specs = []
    for b, ids, keys in jobs:
        grid = blocks[b].grid
        hole, tokens = _block_tokens(grid)
        flat = grid.ravel()
        specs.append((b, len(ids), keys, hole, tokens, flat, math.ceil(steps_per_token * len(tokens))))
    return specs


def _chain_arrays(blocks: list[_Block], specs: list[tuple]) -> tuple[np.ndarray, ...]:
    """The chains' state, one row per chain: (tok, L, bit, outdeg, indeg, n_s, n_t, hole, T, keys).

    The arguments of :func:`mothlib.motifs._mcmc.moves` (and, less the degrees, of ``swaps``); ``specs``
    from :func:`_chain_specs`, at least one chain.
    """
    C = sum(s[1] for s in specs)
    _check_tokens(max(len(s[4]) for s in specs))
    n_max = max(max(blocks[s[0]].grid.size for s in specs), 1)
    l_max = max(max(len(s[4]) for s in specs), 1)
    s_max = max(blocks[s[0]].n_s for s in specs) + 1
    t_max = max(max(blocks[s[0]].n_t for s in specs), 1)
    tok = np.zeros((C, l_max), dtype=np.int32 if n_max < 2**31 else np.int64)  # memory
    # Every chain's slots are set below; the padding past them is never read (and, left unset,
    # a chain of a small block never touches the pages of a large one's row length).
    bit = np.empty((C, n_max), dtype=bool)
    outdeg = np.zeros((C, s_max), dtype=np.int64)
    indeg = np.zeros((C, t_max), dtype=np.int64)
    L = np.zeros(C, dtype=np.int64)
    T = np.zeros(C, dtype=np.int64)
    n_s = np.zeros(C, dtype=np.int64)
    n_t = np.ones(C, dtype=np.int64)
    hole = np.zeros(C, dtype=bool)
    keys = np.zeros(C, dtype=np.uint64)
    c0 = 0
    for b, count, k, h, tokens, flat, steps in specs:
        blk = blocks[b]
        sl = slice(c0, c0 + count)
        tok[sl, : len(tokens)] = tokens
        bit[sl, : flat.size] = ~flat if h else flat
        rows = blk.grid.sum(axis=1)
        outdeg[sl, : len(rows)] = rows
        indeg[sl, : blk.n_t] = blk.grid.sum(axis=0)
        L[sl], T[sl], n_s[sl], n_t[sl], hole[sl], keys[sl] = len(tokens), steps, blk.n_s, max(blk.n_t, 1), h, k
        c0 += count
    return tok, L, bit, outdeg, indeg, n_s, n_t, hole, T, keys


def _run_chains(
    blocks: list[_Block], jobs: list[tuple[int, np.ndarray, np.ndarray]], null: str,
    steps_per_token: float, engine: str, device: Any = None,
) -> list[Any]:
    """Run one chain per (block, sample) of ``jobs`` = [(block index, sample ids, keys)].

    Returns per job the final grids (P, n_rows, n_t): numpy, or torch on ``device`` for
    engine "torch".
    """
    specs = _chain_specs(blocks, jobs, steps_per_token)
    if sum(s[1] for s in specs) == 0:
        return []
    arrays = _chain_arrays(blocks, specs)
    if engine == "torch":
        return _run_chains_torch(blocks, specs, null, arrays, device)
    tok, L, bit, outdeg, indeg, n_s, n_t, hole, T, keys = arrays
    from mothlib.motifs import _mcmc

    if engine == "cuda":
        from mothlib.motifs import _mcmc_cuda  # imports numba.cuda's machinery only when asked

        if null == "layer-edges":
            _mcmc_cuda.moves(*arrays)
        else:
            _mcmc_cuda.swaps(tok, L, bit, n_t, T, keys)
    elif null == "layer-edges":
        _mcmc.moves(*arrays, engine=engine)
    else:
        _mcmc.swaps(tok, L, bit, n_t, T, keys, engine=engine)
    out, c0 = [], 0
    for b, count, _k, h, _tokens, _flat, _steps in specs:
        grid = blocks[b].grid
        g = bit[c0 : c0 + count, : grid.size]
        out.append((~g if h else g).reshape((count,) + grid.shape))
        c0 += count
    return out


#: Sampler engines ("auto": numba on the CPU); all draw the same null networks.
ENGINES: tuple[str, ...] = ("auto", "numpy", "numba", "torch", "cuda")


def sample_null(
    weight_masks: Any,
    bias_masks: Any = None,
    *,
    n_null: int,
    null_model: str = "layer-edges",
    seed: int | np.random.SeedSequence | None = None,
    start: int = 0,
    steps_per_token: float = STEPS_PER_TOKEN,
    method: str = "auto",
    engine: str = "auto",
    device: Any = None,
) -> tuple[list[np.ndarray], list[np.ndarray | None] | None]:
    """Draw null networks of one network.

    Parameters
    ----------
    weight_masks, bias_masks
        One network, as for :func:`mothlib.motifs.counts.count_motifs` (no batch axis, or batch size 1).
        For ``"layer-edges"`` the network must be clean (no ghost or dead neurons, see
        :func:`mothlib.motifs.counts.remove_ineffectual`): the null is defined on clean networks.
        ``"degree-preserving"`` rewires any masks as given.
    n_null : int
        Number of null samples.
    null_model : {"layer-edges", "degree-preserving"}
    seed : int, SeedSequence or None
        Null sample k depends on (seed, null_model, k) only. None draws fresh entropy.
    start : int
        Index of the first sample: ``start=k0, n_null=k1-k0`` gives samples k0 .. k1-1, so a long
        null sample can be streamed in chunks with results independent of the chunk size.
    steps_per_token : float
        Markov chain length per block, in proposals per edge (or hole; see module docstring).
    method : {"auto", "mcmc", "rejection"}
        For "layer-edges": per-block choice between exact rejection and the Metropolis chain
        ("auto": rejection where its estimated acceptance is >= REJECTION_MIN_ACCEPT). Ignored by
        "degree-preserving".
    engine : {"auto", "numpy", "numba", "torch", "cuda"}
        Sampler kernels; all make the same draws and give identical samples ("auto": numba;
        "numpy": the readable reference; "torch": :mod:`mothlib.motifs.nulls_torch` on ``device``;
        "cuda": the Markov chains on a CUDA GPU with numba, one thread per chain
        (:mod:`mothlib.motifs._mcmc_cuda`), the rest as "numba"; a ValueError where numba finds no GPU).
    device : str or torch.device, optional
        Where the "torch" engine runs (default "cpu"); only used by that engine.

    Returns
    -------
    weight_masks : list of bool ndarray (n_null, n_out, n_in)
    bias_masks : list of (bool ndarray (n_null, n_out) or None), or None for a network without biases
    """
    out_w, out_b = _sample(
        weight_masks, bias_masks, n_null=n_null, null_model=null_model, seed=seed, start=start,
        steps_per_token=steps_per_token, method=method, engine=engine, device=device,
    )
    return _to_numpy(out_w, out_b) if engine == "torch" else (out_w, out_b)


def sample_nulls(
    networks: Sequence[tuple[Any, Any]],
    *,
    n_null: int,
    null_model: str = "layer-edges",
    seeds: Sequence[int | np.random.SeedSequence | None],
    start: int = 0,
    steps_per_token: float = STEPS_PER_TOKEN,
    method: str = "auto",
    engine: str = "auto",
    device: Any = None,
) -> list[tuple[list[np.ndarray], list[np.ndarray | None] | None]]:
    """Draw the null networks of several networks, their Markov chains in one run.

    Network i's samples are exactly ``sample_null(*networks[i], seed=seeds[i], ...)`` with the
    same other arguments. The Markov chains of every network's blocks run together, one call of
    the kernels (rejection-sampled blocks are drawn network by network): with the "torch" and
    "cuda" engines that shares each step's (or launch's) fixed cost among the networks. The
    chains' state is padded to the largest block of all networks, so memory grows with the
    number of networks times ``n_null``.

    Parameters
    ----------
    networks : sequence of (weight_masks, bias_masks) pairs
        Each one network as for :func:`sample_null` (``bias_masks`` may be None); shapes and
        sparsity may differ between networks.
    n_null : int
        Null samples per network.
    seeds : sequence of (int, SeedSequence or None)
        One seed per network.
    null_model, start, steps_per_token, method, engine, device
        As for :func:`sample_null`, shared by every network.

    Returns
    -------
    list of (weight_masks, bias_masks)
        Per network, as :func:`sample_null` returns: weight masks (n_null, n_out, n_in) per
        layer, bias masks (n_null, n_out) per layer or None.
    """
    out = _sample_many(
        networks, n_null=n_null, null_model=null_model, seeds=seeds, start=start,
        steps_per_token=steps_per_token, method=method, engine=engine, device=device,
    )
    return [_to_numpy(w, b) for w, b in out] if engine == "torch" else out


def _to_numpy(out_w: list[Any], out_b: list[Any] | None) -> tuple[list[np.ndarray], list[np.ndarray | None] | None]:
    """Torch masks as numpy arrays."""
    out_w = [w.cpu().numpy() for w in out_w]
    return out_w, None if out_b is None else [None if b is None else b.cpu().numpy() for b in out_b]


def _check_device(device: Any) -> Any:
    import torch

    try:
        dev = torch.device(device or "cpu")
        torch.empty(0, device=dev)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ValueError(f"device: cannot use torch device {device!r} ({exc})") from exc
    return dev


def _check_options(n: Any, start: Any, null: str, method: str, engine: str, steps_per_token: float) -> None:
    """ValueErrors for the arguments that :func:`sample_null` and :func:`sample_nulls` share."""
    if null not in NULL_MODELS:
        raise ValueError(f"null_model: unknown null model {null!r}; choose one of {list(NULL_MODELS)}")
    if method not in ("auto", "mcmc", "rejection"):
        raise ValueError(f"method: must be 'auto', 'mcmc' or 'rejection', got {method!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine: must be one of {list(ENGINES)}, got {engine!r}")
    if engine == "cuda":
        from mothlib.motifs import _mcmc_cuda

        reason = _mcmc_cuda.why_unavailable()
        if reason is not None:
            raise ValueError(f"engine: 'cuda' needs a GPU that numba's CUDA target can use, and {reason}")
    check_int(n, "n_null", min_value=0)
    check_int(start, "start", min_value=0)
    if not (np.isfinite(steps_per_token) and steps_per_token >= 0):
        raise ValueError(f"steps_per_token: must be a finite number >= 0, got {steps_per_token!r}")


def _one_network(weight_masks: Any, bias_masks: Any, null: str) -> tuple[list[np.ndarray], list[Any]]:
    """One network's masks (no batch axis; ``None`` per layer without biases), checked."""
    ws, bs, batched = as_masks(weight_masks, bias_masks)
    if ws[0].shape[0] != 1:
        raise ValueError(
            f"weight_masks: sample_null takes one network, got a batch of {ws[0].shape[0]}; "
            "call it once per network"
        )
    ws = [np.array(w[0]) for w in ws]
    bs = [None if b is None else np.array(b[0]) for b in bs]
    if null == "layer-edges":
        cw, cb, report = remove_ineffectual(ws, bs)
        if report[["ghost", "dead"]].to_numpy().any():
            raise ValueError(
                "weight_masks: the 'layer-edges' null is defined on a network without ghost or "
                f"dead neurons, and this one has {int(report['ghost'].sum())} ghost and "
                f"{int(report['dead'].sum())} dead hidden neurons; clean it first with "
                "mothlib.motifs.counts.remove_ineffectual"
            )
    return ws, bs


@dataclass
class _Draw:
    """One network's null sample under way: its blocks, their grids so far and the chain jobs
    [(block index, sample ids, keys)] still to run."""

    ws: list[np.ndarray]
    bs: list[Any]
    blocks: list[_Block]
    grids: list[Any]  # per block (n, n_rows, n_t): numpy, or torch on the device
    jobs: list[tuple[int, np.ndarray, np.ndarray]]


def _prepare(ws: list[np.ndarray], bs: list[Any], *, n: int, null: str, seed: Any, start: int,
             method: str, engine: str, dev: Any) -> _Draw:
    """The blocks of one network, the blocks drawn by rejection, and the chains left to run."""
    use_torch = engine == "torch"
    blocks = _live_blocks(ws, bs, null)
    keys = sample_keys(seed, int(start), int(start) + int(n), salt=NULL_MODELS.index(null) + 1)
    if use_torch:
        import torch

        from mothlib.motifs import nulls_torch

        grids: list[Any] = [
            torch.from_numpy(b.grid).to(dev).expand((n,) + b.grid.shape).clone() for b in blocks
        ]
    else:
        # Read-only views of the real grids: a block whose samples all come from a sampler
        # takes the sampler's array, and only a block filled in part is copied (_writeable).
        grids = [np.broadcast_to(b.grid, (n,) + b.grid.shape) for b in blocks]
    jobs = []
    for i, blk in enumerate(blocks):
        if n == 0 or blk.grid.size == 0:
            continue
        ids = np.arange(n)
        kinds = (blk.grid[: blk.n_s], blk.grid[blk.n_s :])
        if all(k.all() or not k.any() for k in kinds):
            continue  # every slot of each kind full or empty: the real block is the only one
        if null == "layer-edges":
            use_rej = method == "rejection" or (method == "auto" and _acceptance(blk) >= REJECTION_MIN_ACCEPT)
            if use_rej:
                rkeys = sub_keys(keys, 1000 + i)
                if use_torch:
                    m_w, m_b = int(blk.grid[: blk.n_s].sum()), int(blk.grid[blk.n_s :].sum())
                    g, ok_t = nulls_torch.rejection(
                        blk.n_s, blk.n_t, blk.grid.shape[0], m_w, m_b, rkeys, REJECTION_MAX_ROUNDS,
                        _REJECTION_BATCH_ELEMENTS, dev,
                    )
                    grids[i][ok_t] = g[ok_t]
                    ok = ok_t.cpu().numpy()
                else:
                    g_np, ok = _rejection(blk, rkeys, REJECTION_MAX_ROUNDS, engine)
                    if ok.all():
                        grids[i] = g_np
                    else:
                        grids[i] = _writeable(grids[i])
                        grids[i][ok] = g_np[ok]
                ids = np.flatnonzero(~ok)
        if len(ids):
            jobs.append((i, ids, sub_keys(keys[ids], i)))
    return _Draw(ws, bs, blocks, grids, jobs)


def _swaps_direct(null: str, engine: str) -> bool:
    """Whether the numba swap chains write straight into the masks (:func:`_swaps_into_masks`)."""
    return null == "degree-preserving" and engine in ("numba", "auto")


def _finish(d: _Draw, chains: list[Any], n: int, engine: str, dev: Any) -> tuple[list[Any], list[Any] | None]:
    """The full masks of one network from its grids and its jobs' final chain grids."""
    use_torch = engine == "torch"
    for (i, ids, _), g in zip(d.jobs, chains):
        if use_torch:
            import torch

            d.grids[i][torch.from_numpy(ids).to(dev)] = g
        elif len(ids) == n:
            d.grids[i] = g
        else:
            d.grids[i] = _writeable(d.grids[i])
            d.grids[i][ids] = g
    if use_torch:
        out_w, out_b = _assemble_torch(d.blocks, d.grids, d.ws, d.bs, n, dev)
    else:
        out_w, out_b = _assemble(d.blocks, d.grids, d.ws, d.bs, n)
    return out_w, (out_b if any(b is not None for b in d.bs) else None)


def _sample(
    weight_masks: Any, bias_masks: Any, *, n_null: int, null_model: str, seed: Any, start: int = 0,
    steps_per_token: float = STEPS_PER_TOKEN, method: str = "auto", engine: str, device: Any,
) -> tuple[list[Any], list[Any] | None]:
    """:func:`sample_null`; with engine "torch" the masks are torch tensors on ``device``."""
    _check_options(n_null, start, null_model, method, engine, steps_per_token)
    dev = _check_device(device) if engine == "torch" else None
    nets = [_one_network(weight_masks, bias_masks, null_model)]
    return _draw_all(nets, [seed], n=n_null, null=null_model, start=start,
                     steps_per_token=steps_per_token, method=method, engine=engine, dev=dev)[0]


def _check_networks(networks: Sequence[Any], seeds: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """``networks`` and ``seeds`` as lists: at least one (weight_masks, bias_masks) pair, one seed each.

    Raises
    ------
    ValueError
        Naming the argument (``networks`` or ``seeds``) that is wrong.
    """
    networks, seeds = list(networks), list(seeds)
    if not networks:
        raise ValueError("networks: expected at least one (weight_masks, bias_masks) pair, got none")
    if len(seeds) != len(networks):
        raise ValueError(f"seeds: expected one seed per network ({len(networks)}), got {len(seeds)}")
    for k, net in enumerate(networks):
        if not (isinstance(net, tuple) and len(net) == 2):
            raise ValueError(f"networks[{k}]: expected a (weight_masks, bias_masks) pair, got {type(net).__name__}")
    return networks, seeds


def _sample_many(
    networks: Sequence[tuple[Any, Any]], *, n_null: int, null_model: str, seeds: Sequence[Any],
    start: int = 0, steps_per_token: float = STEPS_PER_TOKEN, method: str = "auto", engine: str,
    device: Any,
) -> list[tuple[list[Any], list[Any] | None]]:
    """:func:`sample_nulls`; with engine "torch" the masks are torch tensors on ``device``."""
    _check_options(n_null, start, null_model, method, engine, steps_per_token)
    networks, seeds = _check_networks(networks, seeds)
    dev = _check_device(device) if engine == "torch" else None
    nets = []
    for k, (w, b) in enumerate(networks):
        try:
            nets.append(_one_network(w, b, null_model))
        except ValueError as exc:
            raise ValueError(f"networks[{k}]: {exc}") from exc
    return _draw_all(nets, seeds, n=n_null, null=null_model, start=start,
                     steps_per_token=steps_per_token, method=method, engine=engine, dev=dev)


def _draw_all(
    nets: list[tuple[list[np.ndarray], list[Any]]], seeds: list[Any], *, n: int, null: str,
    start: int, steps_per_token: float, method: str, engine: str, dev: Any,
) -> list[tuple[list[Any], list[Any] | None]]:
    """The null samples of checked networks (:func:`_one_network`), every chain in one run."""
    draws = [_prepare(ws, bs, n=n, null=null, seed=seed, start=start, method=method, engine=engine, dev=dev)
             for (ws, bs), seed in zip(nets, seeds)]
    if _swaps_direct(null, engine):  # numba on the CPU: one network at a time costs the same
        out = []
        for d in draws:
            out_w, out_b = _swaps_into_masks(d.blocks, d.jobs, d.ws, d.bs, n, steps_per_token)
            out.append((out_w, out_b if any(b is not None for b in d.bs) else None))
        return out
    # Every network's blocks side by side, and every chain in one run of the kernels.
    blocks, jobs, offset = [], [], 0
    for d in draws:
        jobs += [(offset + i, ids, keys) for i, ids, keys in d.jobs]
        blocks += d.blocks
        offset += len(d.blocks)
    chains = _run_chains(blocks, jobs, null, steps_per_token, engine, dev)
    out, j0 = [], 0
    for d in draws:
        out.append(_finish(d, chains[j0 : j0 + len(d.jobs)], n, engine, dev))
        j0 += len(d.jobs)
    return out


def _writeable(g: np.ndarray) -> np.ndarray:
    """``g``, or a copy of it where it is a read-only view (a broadcast real grid)."""
    return g if g.flags.writeable else g.copy()


def _assemble(blocks, grids, ws, bs, n):
    """Full masks (n, n_out, n_in) and (n, n_out) from the live grids."""
    out_w, out_b = [], []
    for blk, g, w, b in zip(blocks, grids, ws, bs):
        full = np.zeros((n,) + w.shape, dtype=bool)
        gt = g[:, : blk.n_s, :].transpose(0, 2, 1)
        if blk.n_s == w.shape[1] and blk.n_t == w.shape[0]:
            full[:] = gt  # every neuron live: a transposed copy
        else:
            # One flat index per live slot: a 1-d gather, much faster than a 2-d fancy index.
            flat = (blk.tgt[:, None] * w.shape[1] + blk.src[None, :]).ravel()
            full.reshape(n, w.size)[:, flat] = gt.reshape(n, flat.size)  # sizes, not -1: n may be 0
        out_w.append(full)
        if b is None:
            out_b.append(None)
        else:
            fb = np.zeros((n, b.shape[0]), dtype=bool)
            if blk.bias_row:
                fb[:, blk.tgt] = g[:, blk.n_s, :]
            out_b.append(fb)
    return out_w, out_b


def _assemble_torch(blocks, grids, ws, bs, n, dev):
    """:func:`_assemble` in torch on ``dev``."""
    import torch

    out_w, out_b = [], []
    for blk, g, w, b in zip(blocks, grids, ws, bs):
        full = torch.zeros((n,) + w.shape, dtype=torch.bool, device=dev)
        tgt = torch.from_numpy(blk.tgt).to(dev)
        src = torch.from_numpy(blk.src).to(dev)
        full[:, tgt[:, None], src[None, :]] = g[:, : blk.n_s, :].transpose(1, 2)
        out_w.append(full)
        if b is None:
            out_b.append(None)
        else:
            fb = torch.zeros((n, b.shape[0]), dtype=torch.bool, device=dev)
            if blk.bias_row:
                fb[:, tgt] = g[:, blk.n_s, :]
            out_b.append(fb)
    return out_w, out_b
