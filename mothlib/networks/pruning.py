"""Iterative layer-wise pruning of an ensemble, retraining after every prune: the mask rules,
the settings and the training of one level (the ``pruning`` stage that runs them is
:mod:`mothlib.study.pruning_stage`).

The seed loop: train a round, record (losses, masks, weights), prune to the next cumulative
fraction of the schedule, repeat. With the seed schedule (0.15 ... 0.99) 18 levels are recorded
(level 0 = dense, then 0.15 ... 0.98); the final prune is neither trained nor recorded.

Strategies
----------
``magnitude``
    In each layer the ``floor(f * n)`` weights with the smallest ``|w|`` are masked (already
    pruned weights count as smallest, so masks only grow; ties broken by flat index). Biases are
    pruned the same way by their own magnitudes.
``random``
    The same per-layer counts, chosen uniformly at random among the still unpruned weights
    (cumulative: masks only grow), from a generator seeded by (seed, level, network, layer).
``structured``
    Whole hidden neurons are removed (every incoming weight, its bias and every outgoing
    weight), those with the smallest L2 norm of incoming weights first (removed neurons count
    as smallest, so masks only grow; ties by index). Every hidden layer loses the same share of
    its neurons, ``floor(g * n_l)``, with ``g`` chosen per level so that the weights removed come
    closest to the magnitude schedule's ``floor(f * all weights)`` (:func:`structured_counts`;
    a layer keeps at least one neuron). Biases are not matched: a removed neuron's bias goes
    with it. Input and output neurons are never removed.

Both strategies start from the same trained dense level 0 (trained once and shared), so their
level-0 rows are identical.

``floor(f * n)`` is computed in decimal arithmetic (``Decimal(repr(f)) * n``) so that, e.g.,
``0.29 * 100`` gives 29 and not 28 from binary rounding.

Classification (``PruningSettings.loss == "cross_entropy"``, the digits task): the targets are
class indices (n, 1), the output layer has one logit per class, and the pruning table gains
``train_accuracy, val_accuracy, test_accuracy``. Selection is a filter over that table: by a
validation-loss threshold (:func:`mark_selected`, the moth's) or by validation accuracy within a
margin of the dense network's (:func:`mark_selected_by_accuracy`);
:func:`mothlib.study.pruning_stage.select` picks the rule of a profile's task.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mothlib.core.seeds import stream
from mothlib.core.validation import check_positive

# torch and the training loop (mothlib.networks.ensemble) are imported by the functions that
# prune and train: the pruning stage's tables are read (mark_selected, unpack_masks) without them.
if TYPE_CHECKING:
    import torch

    from mothlib.networks.ensemble import EarlyStopping, EnsembleMLP, StackedAdam

__all__ = [
    "STRATEGIES",
    "prune_count",
    "magnitude_mask",
    "random_mask",
    "structured_counts",
    "structured_masks",
    "prune_model",
    "sparsest_accurate_levels",
    "mark_selected",
    "mark_selected_by_accuracy",
    "validate_schedule",
    "check_splits",
    "PruningSettings",
    "ShardState",
    "train_dense",
    "prune_and_retrain",
    "pack_masks",
    "unpack_masks",
]

STRATEGIES = ("magnitude", "random", "structured")
#: The strategies the pruning stage runs unless told otherwise.
DEFAULT_STRATEGIES = ("magnitude", "random")


# -- masks ---------------------------------------------------------------------------------
def prune_count(fraction: float, n: int) -> int:
    """``floor(fraction * n)`` in decimal arithmetic (no binary rounding surprises)."""
    return int(math.floor(Decimal(repr(float(fraction))) * int(n)))


def validate_schedule(schedule: Sequence[float]) -> list[float]:
    """Check a cumulative pruning schedule: strictly increasing fractions in (0, 1)."""
    sched = [float(f) for f in schedule]
    if len(sched) < 1:
        raise ValueError("schedule must list at least one pruning fraction")
    if any(not (0.0 < f < 1.0) or not math.isfinite(f) for f in sched):
        raise ValueError(f"schedule fractions must lie strictly between 0 and 1, got {sched}")
    if any(b <= a for a, b in zip(sched, sched[1:])):
        raise ValueError(f"schedule must be strictly increasing (cumulative fractions), got {sched}")
    return sched


def magnitude_mask(values: torch.Tensor, mask: torch.Tensor, fraction: float) -> torch.Tensor:
    """Mask the ``floor(fraction * n)`` smallest-magnitude entries of each network.

    Parameters
    ----------
    values : tensor (E, ...)
        Parameters of one layer for every network.
    mask : bool tensor (E, ...)
        Current mask; masked entries are pruned first whatever their stored value.
    fraction : float
        Cumulative fraction to prune, per network and layer.

    Returns
    -------
    bool tensor (E, ...), a superset of the pruned entries of ``mask``.
    """
    import torch

    E = values.shape[0]
    flat = values.detach().reshape(E, -1).abs()
    m = mask.reshape(E, -1)
    n = flat.shape[1]
    k = prune_count(fraction, n)
    if int((~m).sum(dim=1).max()) > k:
        raise ValueError(f"fraction {fraction} prunes fewer entries than already pruned")
    key = torch.where(m, flat, torch.full_like(flat, -1.0))
    order = torch.argsort(key, dim=1, stable=True)
    new = torch.ones_like(m)
    new.scatter_(1, order[:, :k], False)
    return new.reshape(mask.shape)


def random_mask(
    mask: np.ndarray, fraction: float, seeds: Sequence[Sequence[int] | np.random.SeedSequence]
) -> np.ndarray:
    """Grow ``mask`` at random to ``floor(fraction * n)`` pruned entries per network.

    Parameters
    ----------
    mask : bool array (E, ...)
    fraction : float
    seeds : one SeedSequence or entropy sequence per network (the choice for a network depends
        only on it; the pruning stage passes its "random-pruning" streams)
    """
    mask = np.asarray(mask, dtype=bool)
    E = mask.shape[0]
    flat = mask.reshape(E, -1).copy()
    k = prune_count(fraction, flat.shape[1])
    for e in range(E):
        alive = np.flatnonzero(flat[e])
        need = k - (flat.shape[1] - len(alive))
        if need < 0:
            raise ValueError(f"fraction {fraction} prunes fewer entries than already pruned")
        seq = seeds[e]
        gen = np.random.default_rng(seq if isinstance(seq, np.random.SeedSequence) else np.random.SeedSequence(list(seq)))
        flat[e, gen.choice(alive, size=need, replace=False)] = False
    return flat.reshape(mask.shape)


def structured_counts(layer_sizes: Sequence[int], fraction: float) -> list[int]:
    """Neurons the ``structured`` strategy removes from each hidden layer at ``fraction``.

    Every hidden layer l loses ``floor(g * n_l)`` neurons (at most ``n_l - 1``), with the share
    ``g`` chosen among ``k / n_l`` (any hidden layer, any k) so that the weights those neurons
    carry come closest to ``floor(fraction * total weights)`` (ties: the smaller share). The
    removed weights grow with ``fraction``, so cumulative schedules only grow the masks.

    Parameters
    ----------
    layer_sizes : sequence of int
        Widths from input to output (at least one hidden layer).
    fraction : float
        Cumulative fraction of the weights to remove, as for :func:`magnitude_mask`.

    Returns
    -------
    list of int, one per hidden layer.
    """
    sizes = [int(n) for n in layer_sizes]
    if len(sizes) < 3:
        raise ValueError(f"structured pruning needs a hidden layer, got layer sizes {sizes}")
    hidden = sizes[1:-1]
    total = sum(a * b for a, b in zip(sizes, sizes[1:]))
    target = prune_count(fraction, total)

    def removed(share: Fraction) -> tuple[int, list[int]]:
        ks = [min(n - 1, math.floor(share * n)) for n in hidden]
        left = [sizes[0], *[n - k for n, k in zip(hidden, ks)], sizes[-1]]
        return total - sum(a * b for a, b in zip(left, left[1:])), ks

    shares = sorted({Fraction(k, n) for n in hidden for k in range(n)})
    best = min(shares, key=lambda g: (abs(removed(g)[0] - target), g))
    return removed(best)[1]


def structured_masks(
    weights: Sequence[torch.Tensor], weight_masks: Sequence[torch.Tensor], bias_masks: Sequence[torch.Tensor],
    fraction: float,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Masks of the ``structured`` strategy: whole hidden neurons removed by incoming L2 norm.

    Parameters
    ----------
    weights : list of tensors (E, n_out, n_in)
    weight_masks, bias_masks : lists of bool tensors (E, n_out, n_in) and (E, n_out)
        The current masks (pruned weights count as 0; removed neurons stay removed).
    fraction : float

    Returns
    -------
    weight_masks, bias_masks : new masks, each an outer product of the kept neurons of the two
    layers it joins (bias masks: the kept neurons), within the current masks.
    """
    import torch

    sizes = [int(weights[0].shape[2]), *[int(w.shape[1]) for w in weights]]
    counts = structured_counts(sizes, fraction)
    E = weights[0].shape[0]
    alive = [torch.ones(E, sizes[0], dtype=torch.bool, device=weights[0].device)]
    for h, k in enumerate(counts):
        w = weights[h].detach() * weight_masks[h]
        norm = w.double().pow(2).sum(dim=2)  # (E, n_hidden): incoming L2 norm squared
        # Neurons removed earlier have no kept edge: they go first whatever their stored values.
        norm = torch.where(bias_masks[h] | weight_masks[h].any(dim=2), norm, torch.full_like(norm, -1.0))
        order = torch.argsort(norm, dim=1, stable=True)
        keep = torch.ones_like(norm, dtype=torch.bool)
        keep.scatter_(1, order[:, :k], False)
        alive.append(keep)
    alive.append(torch.ones(E, sizes[-1], dtype=torch.bool, device=weights[0].device))
    wms = [m & alive[l + 1][:, :, None] & alive[l][:, None, :] for l, m in enumerate(weight_masks)]
    bms = [m & alive[l + 1] for l, m in enumerate(bias_masks)]
    return wms, bms


def prune_model(
    model: EnsembleMLP, fraction: float, strategy: str, seed: int, level: int
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """New (weight, bias) masks of every layer for ``strategy`` at ``fraction``."""
    import torch

    if strategy == "magnitude":
        wms = [magnitude_mask(w, m, fraction) for w, m in zip(model.weights, model.weight_masks)]
        bms = [magnitude_mask(b, m, fraction) for b, m in zip(model.biases, model.bias_masks)]
        return wms, bms
    if strategy == "random":
        def grow(masks: list[torch.Tensor], kind: int) -> list[torch.Tensor]:
            return [
                torch.from_numpy(
                    random_mask(
                        m.cpu().numpy(),
                        fraction,
                        [stream(int(seed), "random-pruning", level, kind, l, s) for s in model.seeds],
                    )
                ).to(model.device)
                for l, m in enumerate(masks)
            ]

        return grow(model.weight_masks, 0), grow(model.bias_masks, 1)
    if strategy == "structured":
        return structured_masks(list(model.weights), model.weight_masks, model.bias_masks, fraction)
    raise ValueError(f"unknown pruning strategy {strategy!r}; choose from {list(STRATEGIES)}")


def pack_masks(weight_masks: Sequence[np.ndarray], bias_masks: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Bit-packed form of per-layer masks (``np.packbits`` plus the shapes)."""
    out: dict[str, np.ndarray] = {}
    for prefix, masks in (("w", weight_masks), ("b", bias_masks)):
        for l, m in enumerate(masks):
            m = np.asarray(m, dtype=bool)
            out[f"{prefix}{l}"] = np.packbits(m.ravel())
            out[f"{prefix}{l}_shape"] = np.asarray(m.shape, dtype=np.int64)
    return out


def unpack_masks(packed: dict[str, np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Inverse of :func:`pack_masks`."""
    result: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
    for prefix, masks in (("w", result[0]), ("b", result[1])):
        l = 0
        while f"{prefix}{l}" in packed:
            shape = tuple(int(s) for s in packed[f"{prefix}{l}_shape"])
            n = int(np.prod(shape))
            masks.append(np.unpackbits(packed[f"{prefix}{l}"], count=n).astype(bool).reshape(shape))
            l += 1
    return result


def sparsest_accurate_levels(val_loss: np.ndarray, threshold: float) -> np.ndarray:
    """Most pruned level whose validation loss is at most ``threshold``, per network, from losses.

    (:func:`mothlib.study.findings.selected_levels` reads the levels this chose from a pruning table.)

    Parameters
    ----------
    val_loss : array (n_networks, n_levels), levels in pruning order
    threshold : float

    Returns
    -------
    int array (n_networks,): the level index, or -1 where no level qualifies.
    """
    val_loss = np.asarray(val_loss, dtype=float)
    if val_loss.ndim != 2:
        raise ValueError(f"val_loss must be 2-d (networks, levels), got shape {val_loss.shape}")
    ok = val_loss <= threshold  # NaN compares False: a diverged level is never selected
    last = val_loss.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1)
    return np.where(ok.any(axis=1), last, -1)


# -- settings and checkpoints -------------------------------------------------------------
def _level_seed(seed: int, level: int) -> int:
    return int(stream(int(seed), "pruning-level", int(level)).generate_state(1)[0])


def check_splits(splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[int, int]:
    """Check train/validation/test splits: 2-d, finite, non-empty, equal widths.

    Returns
    -------
    n_in, n_out : int
        Columns of X and of Y.

    Raises
    ------
    ValueError
        Naming the split at fault.
    """
    missing = {"train", "val", "test"} - set(splits)
    if missing:
        raise ValueError(f"data splits {sorted(missing)} missing")
    n_in: int | None = None
    n_out: int | None = None
    for name in ("train", "val", "test"):
        X, Y = (np.asarray(a) for a in splits[name])
        if X.ndim != 2 or Y.ndim != 2 or len(X) != len(Y):
            raise ValueError(f"{name} split: X {X.shape} and Y {Y.shape} must be 2-d with equal rows")
        if len(X) == 0:
            raise ValueError(f"{name} split is empty")
        if n_in is None:
            n_in, n_out = X.shape[1], Y.shape[1]
        elif (X.shape[1], Y.shape[1]) != (n_in, n_out):
            raise ValueError(f"{name} split has {X.shape[1]} inputs / {Y.shape[1]} outputs, train has {n_in} / {n_out}")
        if not (np.isfinite(X).all() and np.isfinite(Y).all()):
            raise ValueError(f"{name} split contains NaN or infinite values")
    assert n_in is not None and n_out is not None  # the train split set them
    return int(n_in), int(n_out)


def _default_stopping() -> EarlyStopping:
    from mothlib.networks.ensemble import EarlyStopping

    return EarlyStopping()


@dataclass(frozen=True)
class PruningSettings:
    """What the trained and pruned ensemble depends on.

    Parameters
    ----------
    n_networks : int
        Networks in the ensemble; network ``i`` is initialised from ``(seed, i)`` alone.
    hidden_sizes : sequence of int
        Widths of the hidden layers (inputs and outputs come from the data).
    schedule : sequence of float
        Cumulative pruning fractions, strictly increasing in (0, 1); the last prune is neither
        trained nor recorded.
    strategies : sequence of {"magnitude", "random", "structured"}
    seed : int
        Seeds initialisation, data order and random masks.
    init_std : float
        Standard deviation of the normal weight initialisation.
    learning_rate : float
        Adam's learning rate.
    batch_size : int
    stopping : EarlyStopping
        The per-network early-stopping rule of every round.
    max_batches_dense : int, optional
        Batch cap of the dense round (default: that of the other rounds).
    max_batches_per_round : int, dict or None
        Batch cap of a pruned round (None: one pass over the validation batches, the seed's
        round), or a dict by strategy.
    device : str
        Torch device of the training.
    threads : int, optional
        Torch CPU threads while training (None: torch's default).
    networks_per_task : int, optional
        Networks trained together in one task (default: all). Each network's results do not
        depend on it; it only sets how the work spreads over workers.
    loss : {"mse", "cross_entropy"}
        What the networks minimise. ``"cross_entropy"``: Y holds class indices (n, 1), the
        output layer has ``max(Y) + 1`` logits and accuracies are recorded too.
    """

    n_networks: int
    hidden_sizes: tuple[int, ...]
    schedule: tuple[float, ...]
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    seed: int = 0
    init_std: float = 0.2
    learning_rate: float = 5e-4
    batch_size: int = 128
    stopping: EarlyStopping = field(default_factory=_default_stopping)
    max_batches_dense: int | None = None
    max_batches_per_round: int | dict[str, int] | None = None
    device: str = "cpu"
    threads: int | None = None
    networks_per_task: int | None = None
    loss: str = "mse"

    def __post_init__(self) -> None:
        from mothlib.networks.ensemble import check_loss

        check_loss(self.loss)
        object.__setattr__(self, "schedule", tuple(validate_schedule(self.schedule)))
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        object.__setattr__(self, "strategies", tuple(self.strategies))
        if not self.strategies or len(set(self.strategies)) != len(self.strategies):
            raise ValueError(f"strategies must be a non-empty list without repeats, got {list(self.strategies)}")
        for s in self.strategies:
            if s not in STRATEGIES:
                raise ValueError(f"unknown pruning strategy {s!r}; choose from {list(STRATEGIES)}")
        for name in ("n_networks", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ValueError(f"hidden_sizes must be positive widths, got {list(self.hidden_sizes)}")
        for name in ("threads", "networks_per_task", "max_batches_dense"):
            v = getattr(self, name)
            if v is not None and int(v) < 1:
                raise ValueError(f"{name} must be None or at least 1, got {v}")
        for s in self.strategies:
            v = self.round_cap(s, 1)
            if v is not None and int(v) < 1:
                raise ValueError(f"max_batches_per_round must be None or at least 1, got {self.max_batches_per_round}")
        if not (math.isfinite(float(self.learning_rate)) and float(self.learning_rate) > 0):
            raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate}")

    def round_cap(self, strategy: str, level: int) -> int | None:
        """Batch cap of one round: ``max_batches_dense`` for level 0, else
        ``max_batches_per_round`` (an int, None, or a dict by strategy)."""
        if level == 0 and self.max_batches_dense is not None:
            return int(self.max_batches_dense)
        cap = self.max_batches_per_round
        if isinstance(cap, dict):
            if strategy not in cap:
                if level == 0:
                    return None
                raise ValueError(f"max_batches_per_round has no entry for strategy {strategy!r}: {cap}")
            cap = cap[strategy]
        return None if cap is None else int(cap)

    @property
    def fractions(self) -> list[float]:
        """Fraction pruned at each recorded level (level 0 dense; the last prune unrecorded)."""
        return [0.0, *self.schedule[:-1]]

    def shards(self) -> list[tuple[int, ...]]:
        """The networks of each task, in order."""
        k = int(self.networks_per_task or self.n_networks)
        return [tuple(range(a, min(a + k, self.n_networks))) for a in range(0, self.n_networks, k)]


@dataclass
class ShardState:
    """A shard of networks after one level: the checkpoint the next level starts from.

    Attributes
    ----------
    networks : tuple of int
        Network ids (positions in the ensemble).
    level : int
        The level just trained (0 = dense).
    model : dict
        :meth:`EnsembleMLP.state_arrays` (``w{l}`` (E, out, in), ``b{l}``, masks ``wm{l}``, ``bm{l}``).
    adam : dict
        :meth:`StackedAdam.state_arrays`.
    losses : array (E, 3)
        Train, validation and test loss after the level's round.
    fraction_pruned : array (E,)
        Fraction of weights pruned.
    accuracy : array (E, 3), optional
        Train, validation and test accuracy (classification only; None for regression).
    """

    networks: tuple[int, ...]
    level: int
    model: dict[str, np.ndarray]
    adam: dict[str, np.ndarray]
    losses: np.ndarray
    fraction_pruned: np.ndarray
    accuracy: np.ndarray | None = None

    def to_arrays(self) -> dict[str, np.ndarray]:
        extra = {} if self.accuracy is None else {"accuracy": self.accuracy}
        return {**self.model, **self.adam, "networks": np.asarray(self.networks), "level": np.asarray(self.level),
                "losses": self.losses, "fraction_pruned": self.fraction_pruned, **extra}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ShardState:
        return cls(
            networks=tuple(int(n) for n in arrays["networks"]),
            level=int(arrays["level"]),
            model={k: v for k, v in arrays.items() if k[:1] in "wb"},
            adam={k: v for k, v in arrays.items() if k.startswith("adam_")},
            losses=arrays["losses"], fraction_pruned=arrays["fraction_pruned"],
            accuracy=arrays.get("accuracy"),
        )


# -- the tasks -----------------------------------------------------------------------------
@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _n_classes(splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> int:
    """Classes of a classification data set: ``max(Y) + 1`` over the splits (Y: class indices)."""
    ys = [np.asarray(splits[k][1]) for k in ("train", "val", "test")]
    for name, y in zip(("train", "val", "test"), ys):
        if y.shape[1] != 1 or np.any(y < 0) or np.any(y != np.round(y)):
            raise ValueError(
                f"{name} split: cross-entropy needs Y as non-negative class indices of shape (n, 1), "
                f"got shape {y.shape}"
            )
    return int(max(y.max() for y in ys)) + 1


def _layer_sizes(settings: PruningSettings, splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[int]:
    n_in, n_out = check_splits(splits)
    if settings.loss == "cross_entropy":
        n_out = _n_classes(splits)
    return [n_in, *settings.hidden_sizes, n_out]


def _fresh(settings: PruningSettings, networks: Sequence[int], sizes: list[int]) -> tuple[EnsembleMLP, StackedAdam]:
    from mothlib.networks.ensemble import EnsembleMLP, StackedAdam, network_seeds, resolve_device

    seeds = network_seeds(settings.seed, settings.n_networks)
    model = EnsembleMLP(sizes, [seeds[n] for n in networks], float(settings.init_std),
                        resolve_device(settings.device))
    opt = StackedAdam([*model.weights, *model.biases], lr=float(settings.learning_rate))
    return model, opt


def _train_level(
    settings: PruningSettings, model: EnsembleMLP, opt: StackedAdam, splits: dict[str, Any],
    strategy: str, level: int, networks: tuple[int, ...], progress: bool,
) -> ShardState:
    import torch

    from mothlib.networks.ensemble import evaluate, evaluate_accuracy, train_round

    device = model.device
    with warnings.catch_warnings():
        # Arrays from a Dask worker's store are read-only; training never writes to them.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        data: dict[str, tuple[torch.Tensor, torch.Tensor]]
        if settings.loss == "mse":
            data = {k: (torch.as_tensor(np.asarray(splits[k][0], dtype=np.float32), device=device),
                        torch.as_tensor(np.asarray(splits[k][1], dtype=np.float32), device=device))
                    for k in ("train", "val", "test")}
        else:  # class indices stay integers
            data = {k: (torch.as_tensor(np.asarray(splits[k][0], dtype=np.float32), device=device),
                        torch.as_tensor(np.asarray(splits[k][1], dtype=np.int64), device=device))
                    for k in ("train", "val", "test")}
    train_round(
        model, opt, data["train"], data["val"], batch_size=int(settings.batch_size),
        data_seed=_level_seed(settings.seed, level), stopping=settings.stopping,
        max_batches=settings.round_cap(strategy, level), progress=progress,
        desc=f"{strategy or 'dense'} level {level}", loss=settings.loss,
    )
    losses = np.stack([evaluate(model, *data[k], loss=settings.loss) for k in ("train", "val", "test")], axis=1)
    accuracy = None
    if settings.loss == "cross_entropy":
        accuracy = np.stack([evaluate_accuracy(model, *data[k]) for k in ("train", "val", "test")], axis=1)
    n_w = sum(int(np.prod(m.shape[1:])) for m in model.weight_masks)
    kept = sum(m.reshape(model.n_networks, -1).sum(dim=1).cpu().numpy() for m in model.weight_masks)
    return ShardState(tuple(networks), level, model.state_arrays(), opt.state_arrays(), losses,
                      np.asarray(1.0 - kept / n_w), accuracy)


def train_dense(
    settings: PruningSettings, networks: Sequence[int], splits: dict[str, tuple[np.ndarray, np.ndarray]],
    *, progress: bool = False,
) -> ShardState:
    """Task: train the dense networks ``networks`` for one round (level 0, shared by every strategy).

    Parameters
    ----------
    settings : PruningSettings
    networks : sequence of int
        Network ids; each network's result depends only on its id and the settings.
    splits : dict
        ``"train"``, ``"val"``, ``"test"`` -> ``(X (n, n_in), Y (n, n_out))`` float arrays.
    """
    sizes = _layer_sizes(settings, splits)
    with _torch_threads(settings.threads):
        model, opt = _fresh(settings, networks, sizes)
        return _train_level(settings, model, opt, splits, "", 0, tuple(networks), progress)


def prune_and_retrain(
    settings: PruningSettings, state: ShardState, strategy: str,
    splits: dict[str, tuple[np.ndarray, np.ndarray]], *, progress: bool = False,
) -> ShardState:
    """Task: prune a shard from ``state`` to the next level's fraction and retrain it one round."""
    if strategy not in settings.strategies:
        raise ValueError(f"strategy {strategy!r} is not one of the settings' {list(settings.strategies)}")
    level = state.level + 1
    if level >= len(settings.fractions):
        raise ValueError(f"level {level} is past the schedule's last recorded level {len(settings.fractions) - 1}")
    sizes = _layer_sizes(settings, splits)
    with _torch_threads(settings.threads):
        model, opt = _fresh(settings, state.networks, sizes)
        model.load_state_arrays(state.model)
        opt.load_state_arrays(state.adam)
        wms, bms = prune_model(model, settings.fractions[level], strategy, settings.seed, level)
        model.set_masks(wms, bms)
        opt.zero_masked([*model.weight_masks, *model.bias_masks])
        return _train_level(settings, model, opt, splits, strategy, level, state.networks, progress)


# -- selection (a filter over the table: changing the threshold retrains nothing) -----------
def mark_selected(table: pd.DataFrame, loss_threshold: float) -> pd.DataFrame:
    """The pruning table with a ``selected`` column: each network's most pruned level whose
    validation loss is at most ``loss_threshold`` (per strategy; none where no level qualifies).

    Parameters
    ----------
    table : DataFrame
        Columns ``network, strategy, level, val_loss`` (``pruning.parquet``).
    loss_threshold : float
        Positive.
    """
    check_positive(loss_threshold, "loss_threshold", finite=False)  # inf: every finite loss qualifies
    missing = [c for c in ("network", "strategy", "level", "val_loss") if c not in table.columns]
    if missing:
        raise ValueError(f"pruning table lacks columns {missing}")
    out = table.copy()
    out["selected"] = False
    for _, rows in out.groupby(["strategy", "network"], sort=False):
        rows = rows.sort_values("level")
        level = sparsest_accurate_levels(rows["val_loss"].to_numpy()[None, :], float(loss_threshold))[0]
        if level >= 0:
            out.loc[rows.index[level], "selected"] = True
    return out


def mark_selected_by_accuracy(table: pd.DataFrame, margin: float) -> pd.DataFrame:
    """The pruning table with a ``selected`` column: each network's most pruned level whose
    validation accuracy is at least its own dense level's minus ``margin`` (per strategy).

    The dense level (0) always qualifies unless its accuracy is NaN; a NaN accuracy never does.

    Parameters
    ----------
    table : DataFrame
        Columns ``network, strategy, level, val_accuracy`` (a classification task's
        ``pruning.parquet``); level 0 (dense) present for every network.
    margin : float
        Non-negative, in accuracy units (0.02 = two percentage points).
    """
    if isinstance(margin, bool) or not (isinstance(margin, (int, float, np.floating)) and float(margin) >= 0):
        raise ValueError(f"accuracy_margin must be a non-negative number, got {margin!r}")
    missing = [c for c in ("network", "strategy", "level", "val_accuracy") if c not in table.columns]
    if missing:
        raise ValueError(f"pruning table lacks columns {missing} (accuracy selection needs a classification task's table)")
    out = table.copy()
    out["selected"] = False
    for (strategy, network), rows in out.groupby(["strategy", "network"], sort=False):
        rows = rows.sort_values("level")
        dense = rows.loc[rows["level"] == 0, "val_accuracy"]
        if dense.empty:
            raise ValueError(f"no dense level (0) for network {network} ({strategy}): its accuracy is the baseline")
        ok = rows["val_accuracy"].to_numpy(dtype=float) >= float(dense.iloc[0]) - float(margin)
        if ok.any():  # NaN compares False: a diverged level is never selected
            out.loc[rows.index[np.flatnonzero(ok)[-1]], "selected"] = True
    return out

