"""A batched ensemble of masked MLPs, trained all at once with per-network early stopping.

Every parameter is stacked over the ensemble: layer ``l`` has weights ``(E, n_out, n_in)``
(oriented like :attr:`torch.nn.Linear.weight`) and biases ``(E, n_out)``; one batched matmul
per layer runs every network. Binary masks act as in ``torch.nn.utils.prune`` (effective weight =
``weight_orig * weight_mask``: a pruned weight is 0 and gets no gradient), but without the
product in every forward pass: :meth:`EnsembleMLP.set_masks` zeroes the pruned entries once
and a gradient hook on each parameter multiplies its gradient by the mask, so pruned weights
stay exactly 0 through retraining and every value computed is the same as with the product.

Reproducibility contract: a network's initial weights depend only on its own seed, and the
order of training and validation batches only on the data seed shared by the ensemble. The
loss is the sum of the networks' own mean squared errors and the optimiser (:class:`StackedAdam`)
keeps per-network step counts, so a network trained in an ensemble of 8 ends with the same
weights (to float tolerance) as the same seed trained alone.

Losses (:data:`LOSSES`): ``"mse"`` (the moth's regression, the default) and ``"cross_entropy"``
(classification: the outputs are logits, one per class, and the targets class indices). The
sum-of-own-losses contract holds for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from mothlib.core.masks import binary_mask
from mothlib.core.masks import module_masks as masks_from_module  # public here, one implementation
from mothlib.core.seeds import stream
from mothlib.core.validation import check_positive

__all__ = [
    "LOSSES",
    "check_loss",
    "class_targets",
    "EnsembleMLP",
    "StackedAdam",
    "EarlyStopping",
    "RoundResult",
    "network_seeds",
    "resolve_device",
    "train_round",
    "evaluate",
    "evaluate_accuracy",
    "to_sequential",
    "masks_from_module",
]


#: The training losses: mean squared error (regression) and cross-entropy (classification).
LOSSES: tuple[str, ...] = ("mse", "cross_entropy")


def check_loss(loss: str) -> str:
    """``loss`` if it is one of :data:`LOSSES`, else a ValueError naming the choices."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {list(LOSSES)}")
    return loss


def class_targets(y: torch.Tensor) -> torch.Tensor:
    """Class indices ``(B,)`` (int64) from targets of shape ``(B,)`` or ``(B, 1)``."""
    if y.dim() == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.dim() != 1:
        raise ValueError(f"cross-entropy targets must be class indices of shape (B,) or (B, 1), got {tuple(y.shape)}")
    return y.long()


def network_seeds(seed: int, n_networks: int) -> list[int]:
    """Per-network initialisation seeds derived from the study seed.

    Network ``i``'s seed depends only on ``(seed, i)``, so a sub-ensemble reproduces the same
    networks.
    """
    return [int(stream(int(seed), "network-init", i).generate_state(1)[0]) for i in range(n_networks)]


def resolve_device(device: str | torch.device) -> torch.device:
    """``torch.device`` for a profile's ``device`` field; a clear error when CUDA is absent."""
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "profile asks for device 'cuda' but CUDA is not available on this machine; "
            "override it, e.g. get_profile(name, device='cpu')"
        )
    return device


class _MaskGradient:
    """Gradient hook of parameter ``index`` of ``module``: the gradient times its current mask."""

    def __init__(self, module: EnsembleMLP, index: int) -> None:
        self.module, self.index = module, index

    def __call__(self, grad: torch.Tensor) -> torch.Tensor:
        return grad * self.module._mask_values[self.index]


class EnsembleMLP(nn.Module):
    """``E`` fully connected tanh networks with identical architecture, stacked.

    Parameters
    ----------
    layer_sizes : sequence of int
        Widths from input to output, e.g. ``[10, 400, 400, 400, 16, 7]``.
    seeds : sequence of int
        One initialisation seed per network (its length is the ensemble size ``E``).
    init_std : float
        Initial weights are drawn from N(0, init_std^2); biases start at 0.
    device : str or torch.device

    Attributes
    ----------
    weights : nn.ParameterList
        ``weights[l]`` has shape ``(E, n_out, n_in)``.
    biases : nn.ParameterList
        ``biases[l]`` has shape ``(E, n_out)``.
    weight_masks, bias_masks : list of bool tensors
        Same shapes; ``True`` keeps a parameter.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        seeds: Sequence[int],
        init_std: float = 0.2,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__()
        sizes = [int(s) for s in layer_sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"layer_sizes must list at least two positive widths, got {layer_sizes}")
        if len(seeds) < 1:
            raise ValueError("need at least one network seed")
        check_positive(init_std, "init_std")
        self.layer_sizes = sizes
        self.seeds = [int(s) for s in seeds]
        device = resolve_device(device)
        per_layer: list[list[torch.Tensor]] = [[] for _ in range(len(sizes) - 1)]
        for s in self.seeds:
            # One generator per network: its init does not depend on its companions.
            gen = torch.Generator().manual_seed(s)
            for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
                per_layer[l].append(torch.randn(n_out, n_in, generator=gen) * init_std)
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.stack(ws).to(device)) for ws in per_layer]
        )
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.zeros(len(self.seeds), n_out, device=device)) for n_out in sizes[1:]]
        )
        self.set_masks([torch.ones_like(w, dtype=torch.bool) for w in self.weights],
                       [torch.ones_like(b, dtype=torch.bool) for b in self.biases])

    @property
    def n_networks(self) -> int:
        return len(self.seeds)

    @property
    def device(self) -> torch.device:
        return self.weights[0].device

    def set_masks(self, weight_masks: Sequence[torch.Tensor], bias_masks: Sequence[torch.Tensor]) -> None:
        """Install masks (bool, same shapes as the parameters) and zero the masked parameters."""
        if len(weight_masks) != len(self.weights) or len(bias_masks) != len(self.biases):
            raise ValueError("need one weight mask and one bias mask per layer")
        for m, p in zip([*weight_masks, *bias_masks], [*self.weights, *self.biases]):
            if tuple(m.shape) != tuple(p.shape):
                raise ValueError(f"mask shape {tuple(m.shape)} does not match parameter {tuple(p.shape)}")
        self._weight_masks = [torch.as_tensor(m, device=self.device).bool() for m in weight_masks]
        self._bias_masks = [torch.as_tensor(m, device=self.device).bool() for m in bias_masks]
        # The masks as 0/1 in the parameters' dtype: the gradient hooks multiply by them on every
        # backward pass, and a bool mask would be converted each time (same products either way).
        self._mask_values = [m.to(p.dtype) for m, p in zip([*self._weight_masks, *self._bias_masks],
                                                           [*self.weights, *self.biases])]
        self._zero_pruned()

    def _zero_pruned(self) -> None:
        """Set every pruned parameter entry to 0 (the forward pass reads the parameters as they are)."""
        with torch.no_grad():
            for p, m in zip([*self.weights, *self.biases], self._mask_values):
                p.mul_(m)

    def _hook_gradients(self) -> None:
        """Give each parameter (once) a hook that multiplies its gradient by its current mask.

        Called by every forward pass that records gradients, so a model made any way (a subset,
        a deep copy, an unpickled one: tensors lose their hooks when copied) gets its hooks.

        The gradient of ``p * mask`` with respect to ``p`` is ``grad * mask``: the hook computes
        that same product, so training on the raw (pre-zeroed) parameters is bit for bit training
        on masked ones, one element-wise product per parameter fewer in each forward pass.
        """
        for i, p in enumerate([*self.weights, *self.biases]):
            # Looked up on the tensor itself: a deep copy or unpickled model has no hooks.
            hooks = (p._backward_hooks or {}).values()
            if not any(isinstance(h, _MaskGradient) and h.module is self for h in hooks):
                p.register_hook(_MaskGradient(self, i))

    @property
    def weight_masks(self) -> list[torch.Tensor]:
        """Bool masks ``(E, n_out, n_in)`` of the weights (install new ones with :meth:`set_masks`)."""
        return self._weight_masks

    @property
    def bias_masks(self) -> list[torch.Tensor]:
        """Bool masks ``(E, n_out)`` of the biases (install new ones with :meth:`set_masks`)."""
        return self._bias_masks

    def effective(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Masked weights and biases (differentiable)."""
        n = len(self.weights)
        ws = [w * m for w, m in zip(self.weights, self._mask_values[:n])]
        bs = [b * m for b, m in zip(self.biases, self._mask_values[n:])]
        return ws, bs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs of every network.

        Parameters
        ----------
        x : tensor, shape (B, n_in) shared by all networks, or (E, B, n_in)

        Returns
        -------
        tensor, shape (E, B, n_out)
        """
        # Pruned entries are already 0 (set_masks) and their gradients are masked by hooks.
        if torch.is_grad_enabled():
            self._hook_gradients()
        ws, bs = list(self.weights), list(self.biases)
        # Activations run transposed, (E, width, B): W @ h, so each weight's gradient comes out
        # of one batched matmul already in the weight's own (contiguous) layout.
        xt = x.T.expand(len(ws[0]), -1, -1) if x.dim() == 2 else x.transpose(1, 2)
        h = torch.baddbmm(bs[0].unsqueeze(2), ws[0], xt)
        for l in range(1, len(ws)):
            h = torch.baddbmm(bs[l].unsqueeze(2), ws[l], torch.tanh(h))
        return h.transpose(1, 2)

    def per_network_mse(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean squared error of each network on ``(x, y)``, shape ``(E,)``."""
        return ((self(x) - y) ** 2).mean(dim=(1, 2))

    def per_network_loss(self, x: torch.Tensor, y: torch.Tensor, loss: str = "mse") -> torch.Tensor:
        """Each network's own loss on ``(x, y)``, shape ``(E,)``.

        Parameters
        ----------
        x : tensor (B, n_in)
        y : tensor
            ``"mse"``: targets (B, n_out). ``"cross_entropy"``: class indices (B,) or (B, 1),
            the outputs (E, B, n_classes) being logits.
        loss : {"mse", "cross_entropy"}
        """
        if loss == "mse":
            return self.per_network_mse(x, y)
        check_loss(loss)
        logits = self(x)
        target = class_targets(y)
        # Mean over the batch of -log softmax at the target class, per network.
        logp = torch.log_softmax(logits, dim=2)
        picked = logp.gather(2, target.view(1, -1, 1).expand(logits.shape[0], -1, 1))
        return -picked[..., 0].mean(dim=1)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Raw parameters and masks as numpy arrays (``w{l}``, ``b{l}``, ``wm{l}``, ``bm{l}``)."""
        out: dict[str, np.ndarray] = {}
        for l in range(len(self.weights)):
            out[f"w{l}"] = self.weights[l].detach().cpu().numpy().copy()
            out[f"b{l}"] = self.biases[l].detach().cpu().numpy().copy()
            out[f"wm{l}"] = self.weight_masks[l].cpu().numpy().copy()
            out[f"bm{l}"] = self.bias_masks[l].cpu().numpy().copy()
        return out

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Inverse of :meth:`state_arrays`."""
        n = len(self.weights)
        self.set_masks(
            [torch.from_numpy(np.asarray(arrays[f"wm{l}"])) for l in range(n)],
            [torch.from_numpy(np.asarray(arrays[f"bm{l}"])) for l in range(n)],
        )
        with torch.no_grad():
            for l in range(n):
                self.weights[l].copy_(torch.from_numpy(np.asarray(arrays[f"w{l}"])))
                self.biases[l].copy_(torch.from_numpy(np.asarray(arrays[f"b{l}"])))
        # Arrays from elsewhere may hold values under the masks: pruned entries must be 0.
        self._zero_pruned()

    def subset(self, index: torch.Tensor) -> EnsembleMLP:
        """A new ensemble holding copies of networks ``index`` (long tensor ``(k,)``), masks included.

        Each network computes as in the full ensemble, up to float rounding (a smaller stack may
        take another matmul kernel).
        """
        sub = EnsembleMLP.__new__(EnsembleMLP)
        nn.Module.__init__(sub)
        sub.layer_sizes = list(self.layer_sizes)
        sub.seeds = [self.seeds[i] for i in index.tolist()]
        sub.weights = nn.ParameterList([nn.Parameter(w.detach()[index].clone()) for w in self.weights])
        sub.biases = nn.ParameterList([nn.Parameter(b.detach()[index].clone()) for b in self.biases])
        sub.set_masks([m[index] for m in self._weight_masks], [m[index] for m in self._bias_masks])
        return sub

    def write_back(self, sub: EnsembleMLP, index: torch.Tensor) -> None:
        """Copy the parameters of ``sub`` (made by :meth:`subset` with ``index``) into their rows."""
        with torch.no_grad():
            for p, q in zip([*self.weights, *self.biases], [*sub.weights, *sub.biases]):
                p[index] = q

    def to_sequential(self, network: int) -> nn.Sequential:
        """Network ``network`` as a plain ``nn.Sequential`` with prune masks (see :func:`to_sequential`)."""
        if not 0 <= network < self.n_networks:
            raise ValueError(f"network index {network} outside 0..{self.n_networks - 1}")
        return to_sequential(
            [w[network].detach().cpu().numpy() for w in self.weights],
            [b[network].detach().cpu().numpy() for b in self.biases],
            [m[network].cpu().numpy() for m in self.weight_masks],
            [m[network].cpu().numpy() for m in self.bias_masks],
        )


class StackedAdam:
    """Adam over stacked ensemble parameters with a per-network ``active`` switch.

    Each network's update is :class:`torch.optim.Adam` with ``fused=True`` (no weight decay, no
    amsgrad) applied to that network alone, bit for bit: the fused kernel runs over per-network
    views of the stacked tensors, so step counts (and bias corrections) are per network, and a
    network that is not active keeps its parameters, moments and step count exactly unchanged:
    that is how an early-stopped network freezes.

    Parameters
    ----------
    params : list of tensors, each shaped ``(E, ...)``
    lr, betas, eps : as in :class:`torch.optim.Adam`
    """

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        lr: float = 5e-4,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        check_positive(lr, "learning_rate")  # named as the profile names it
        self.params = list(params)
        if not all(p.is_contiguous() for p in self.params):
            raise ValueError("StackedAdam needs contiguous parameters (the fused kernel reads them as dense)")
        self.lr, self.betas, self.eps = float(lr), betas, float(eps)
        n = self.params[0].shape[0]
        device = self.params[0].device
        # float32 counts, as torch.optim.Adam keeps them (exact up to 2**24 batches).
        self.step_count = torch.zeros(n, dtype=torch.float32, device=device)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self._views: tuple[tuple[int, ...], list[list[torch.Tensor]]] | None = None

    def _network_views(self) -> list[list[torch.Tensor]]:
        """Per-network views ``[params, exp_avg, exp_avg_sq, steps]``, network-major within each
        parameter; made once per set of state tensors (they are updated in place)."""
        state = [self.params, self.exp_avg, self.exp_avg_sq, [self.step_count]]
        key = tuple(id(t) for ts in state for t in ts)
        if self._views is None or self._views[0] != key:
            self._views = (key, [[v for t in ts for v in t.unbind(0)] for ts in state])
        return self._views[1]

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], active: torch.Tensor | None = None) -> None:
        """Apply one update; ``active`` is a bool tensor ``(E,)`` (``None``: all active)."""
        params, exp_avg, exp_avg_sq, steps = self._network_views()
        # The fused kernel reads its tensors as dense (a caller's gradients may come strided).
        grad_views = [v for g in grads for v in g.contiguous().unbind(0)]
        if active is None or bool(active.all()):
            self.step_count += 1
            tensor_steps = steps * len(self.params)
        else:
            self.step_count += active.to(self.step_count.dtype)
            nets = active.nonzero()[:, 0].tolist()
            if not nets:
                return
            E = len(steps)
            keep = [k * E + e for k in range(len(self.params)) for e in nets]
            params, exp_avg, exp_avg_sq, grad_views = (
                [ts[i] for i in keep] for ts in (params, exp_avg, exp_avg_sq, grad_views))
            tensor_steps = [steps[e] for _ in self.params for e in nets]
        b1, b2 = self.betas
        torch._fused_adam_(params, grad_views, exp_avg, exp_avg_sq, [], tensor_steps,
                           amsgrad=False, lr=self.lr, beta1=b1, beta2=b2, weight_decay=0.0,
                           eps=self.eps, maximize=False)

    def zero_masked(self, masks: Sequence[torch.Tensor]) -> None:
        """Zero the moments of masked entries, so a pruned parameter never moves again."""
        with torch.no_grad():
            for m, v, mask in zip(self.exp_avg, self.exp_avg_sq, masks):
                m.mul_(mask)
                v.mul_(mask)

    def subset(self, params: Sequence[torch.Tensor], index: torch.Tensor) -> StackedAdam:
        """The optimiser of a sub-ensemble: ``params`` (its parameters) and copies of rows ``index``."""
        sub = StackedAdam(params, lr=self.lr, betas=self.betas, eps=self.eps)
        sub.step_count = self.step_count[index].clone()
        sub.exp_avg = [m[index].clone() for m in self.exp_avg]
        sub.exp_avg_sq = [v[index].clone() for v in self.exp_avg_sq]
        return sub

    def write_back(self, sub: StackedAdam, index: torch.Tensor) -> None:
        """Copy the state of ``sub`` (made by :meth:`subset` with ``index``) into its rows."""
        self.step_count[index] = sub.step_count
        for m, v, sm, sv in zip(self.exp_avg, self.exp_avg_sq, sub.exp_avg, sub.exp_avg_sq):
            m[index] = sm
            v[index] = sv

    def state_arrays(self) -> dict[str, np.ndarray]:
        out = {"adam_step": self.step_count.cpu().numpy().copy()}
        for i, (m, v) in enumerate(zip(self.exp_avg, self.exp_avg_sq)):
            out[f"adam_m{i}"] = m.cpu().numpy().copy()
            out[f"adam_v{i}"] = v.cpu().numpy().copy()
        return out

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        device = self.params[0].device
        self.step_count = torch.tensor(np.asarray(arrays["adam_step"]), dtype=torch.float32, device=device)
        for i in range(len(self.params)):
            self.exp_avg[i].copy_(torch.from_numpy(np.asarray(arrays[f"adam_m{i}"])))
            self.exp_avg_sq[i].copy_(torch.from_numpy(np.asarray(arrays[f"adam_v{i}"])))


@dataclass
class EarlyStopping:
    """The seed's early-stopping rule, applied to each network on its own.

    Every ``check_every`` batches, once more than ``min_batches`` batches are done, a network
    stops when ``mean(val[-2w:-w]) / mean(val[-w:]) < ratio`` (``w = window``), i.e. when its
    validation loss improved by less than ``ratio - 1`` over the last window.
    """

    check_every: int = 100
    min_batches: int = 1000
    window: int = 500
    ratio: float = 1.01

    def __post_init__(self) -> None:
        if self.check_every < 1 or self.window < 1:
            raise ValueError(
                f"check_every and window must be at least 1, got {self.check_every} and {self.window}"
            )
        if self.min_batches < 2 * self.window:
            raise ValueError(
                f"min_batches ({self.min_batches}) must be at least 2 * window "
                f"({2 * self.window}) so that both windows exist when the rule is checked"
            )
        check_positive(self.ratio, "ratio", finite=False)  # inf: stop at the first check

    def should_check(self, batches_done: int) -> bool:
        return batches_done > self.min_batches and batches_done % self.check_every == 0

    def first_watched(self, total: int) -> int:
        """The first batch (1-based) whose validation loss the rule can read in a round of ``total``.

        The first check comes at the first multiple of ``check_every`` past ``min_batches`` and
        reads the last ``2 * window`` losses; a round that ends before it reads none (``total + 1``).
        """
        first_check = (self.min_batches // self.check_every + 1) * self.check_every
        return first_check - 2 * self.window + 1 if first_check <= total else total + 1

    def stop(self, val_history: torch.Tensor) -> torch.Tensor:
        """Which networks stop, given val losses ``(batches_done, E)``; bool ``(E,)``."""
        w = self.window
        older = val_history[-2 * w : -w].mean(dim=0)
        recent = val_history[-w:].mean(dim=0)
        return older / recent < self.ratio


@dataclass
class RoundResult:
    """What one training round did: batches run and the batch at which each network stopped."""

    n_batches: int
    stopped_at: np.ndarray  # (E,), batches done when the network stopped (n_batches if never)
    # (E,) each network's training and validation loss on the last batch it trained on.
    last_train: np.ndarray = field(default_factory=lambda: np.zeros(0))
    last_val: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _epoch_order(gen: np.random.Generator, n: int, batch_size: int) -> np.ndarray:
    """Row indices of one shuffled pass, cut to whole batches, shape ``(n_batches, batch)``."""
    n_batches = n // batch_size
    return gen.permutation(n)[: n_batches * batch_size].reshape(n_batches, batch_size)


def train_round(
    model: EnsembleMLP,
    optimizer: StackedAdam,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    *,
    batch_size: int,
    data_seed: int,
    stopping: EarlyStopping,
    max_batches: int | None = None,
    progress: bool = True,
    desc: str = "round",
    loss: str = "mse",
) -> RoundResult:
    """Train every network for one round, each stopping early on its own.

    Training batch ``i`` is paired with validation batch ``i`` (as in the seed). Without
    ``max_batches`` a round is at most one pass over the validation split (the seed's limit);
    with it, the round runs up to ``max_batches`` batches, reshuffling the training and the
    validation split (both from ``data_seed``) each time one is used up. A network that stops
    leaves the computation: the others go on as a sub-ensemble (:meth:`EnsembleMLP.subset`),
    written back into ``model`` and ``optimizer`` when the round ends.

    Parameters
    ----------
    model, optimizer : the ensemble and its optimiser (state carried across rounds).
    train, val : (X, Y) tensors on the model's device, shapes (n, n_in) and (n, n_out).
    batch_size : int
    data_seed : int
        Seeds the batch order; shared by all networks.
    stopping : EarlyStopping
    max_batches : int, optional
    loss : {"mse", "cross_entropy"}
        What each network minimises (:meth:`EnsembleMLP.per_network_loss`); early stopping
        watches the same loss on the validation batches.
    """
    check_loss(loss)
    Xtr, Ytr = train
    Xv, Yv = val
    if len(Xtr) < batch_size or len(Xv) < batch_size:
        raise ValueError(
            f"training ({len(Xtr)}) and validation ({len(Xv)}) splits need at least one batch "
            f"of {batch_size} rows"
        )
    gen = np.random.default_rng(stream(int(data_seed), "batch-order"))
    n_val_batches = len(Xv) // batch_size
    total = n_val_batches if max_batches is None else int(max_batches)
    if total < 1:
        raise ValueError(f"max_batches_per_round must be at least 1, got {max_batches}")
    E = model.n_networks
    device = model.device
    active = torch.ones(E, dtype=torch.bool, device=device)
    stopped_at = np.full(E, total, dtype=np.int64)
    val_hist = torch.full((total, E), float("nan"), device=device)
    train_order = torch.empty(0, batch_size, dtype=torch.long)
    val_order = torch.empty(0, batch_size, dtype=torch.long)
    ti = vi = 0
    last_train = torch.zeros(E, device=device)
    last_val = torch.zeros(E, device=device)
    # Only the validation losses early stopping can read are computed (and the last one).
    watch_from = stopping.first_watched(total)
    # The networks still training run as a sub-ensemble of their own (``cols`` in the full one),
    # so a stopped network costs nothing for the rest of the round.
    net, opt, cols = model, optimizer, None
    params = [*net.weights, *net.biases]
    bar = tqdm(total=total, desc=desc, disable=not progress, leave=False)
    b = 0
    for b in range(1, total + 1):
        # Whole-pass index tables go to the device once per pass, not once per batch.
        if ti == len(train_order):
            train_order, ti = torch.from_numpy(_epoch_order(gen, len(Xtr), batch_size)).to(device), 0
        if vi == len(val_order):
            val_order, vi = torch.from_numpy(_epoch_order(gen, len(Xv), batch_size)).to(device), 0
        idx = train_order[ti]
        vidx = val_order[vi]
        ti += 1
        vi += 1
        per_net = net.per_network_loss(Xtr[idx], Ytr[idx], loss)
        grads = torch.autograd.grad(per_net.sum(), params)
        opt.step(grads)
        if cols is None:
            last_train = per_net.detach()
        else:
            last_train[cols] = per_net.detach()
        if b >= watch_from or b == total:
            with torch.no_grad():
                v = net.per_network_loss(Xv[vidx], Yv[vidx], loss)
            if cols is None:
                val_hist[b - 1] = v
                last_val = v
            else:
                val_hist[b - 1, cols] = v
                last_val[cols] = v
        if stopping.should_check(b):
            newly = stopping.stop(val_hist[:b]) & active
            if bool(newly.any()):
                stopped_at[newly.cpu().numpy()] = b
                active &= ~newly
                if bool(active.any()):
                    net, opt, cols = _regroup(model, optimizer, net, opt, cols, active)
                    params = [*net.weights, *net.biases]
            if progress:
                bar.set_postfix(
                    train=f"{float(last_train.median()):.2e}",
                    val=f"{float(last_val.median()):.2e}",
                    active=int(active.sum()),
                )
            if not bool(active.any()):
                bar.update(1)
                break
        bar.update(1)
    if cols is not None:
        model.write_back(net, cols)
        optimizer.write_back(opt, cols)
    bar.close()
    return RoundResult(
        n_batches=b,
        stopped_at=stopped_at,
        last_train=last_train.cpu().numpy(),
        last_val=last_val.cpu().numpy(),
    )


def _regroup(
    model: EnsembleMLP, optimizer: StackedAdam, net: EnsembleMLP, opt: StackedAdam,
    cols: torch.Tensor | None, active: torch.Tensor,
) -> tuple[EnsembleMLP, StackedAdam, torch.Tensor]:
    """Write the running sub-ensemble back and start one of the ``active`` networks only."""
    if cols is not None:
        model.write_back(net, cols)
        optimizer.write_back(opt, cols)
    cols = active.nonzero()[:, 0]
    net = model.subset(cols)
    return net, optimizer.subset([*net.weights, *net.biases], cols), cols


def _eval_chunk(model: EnsembleMLP, n_rows: int, chunk: int | None) -> int:
    if n_rows == 0:
        raise ValueError("cannot evaluate on an empty split")
    if chunk is None:
        budget = 2**27 if model.device.type == "cuda" else 2**19
        chunk = min(16384, max(256, budget // (model.n_networks * max(model.layer_sizes))))
    return int(chunk)


@torch.no_grad()
def evaluate(
    model: EnsembleMLP, X: torch.Tensor, Y: torch.Tensor, chunk: int | None = None, loss: str = "mse",
) -> np.ndarray:
    """Mean loss of each network on a whole split, in chunks; shape ``(E,)``.

    ``loss="mse"`` (default): mean squared error over rows and outputs. ``"cross_entropy"``:
    mean over rows of each network's cross-entropy, ``Y`` holding class indices (n,) or (n, 1).

    The default chunk keeps one layer's activations (rows x networks x width) near 2 MiB on the
    CPU (they stay in cache: faster than 16 MiB chunks, benchmarks/README.md) and 512 MiB on
    CUDA, so that 400 networks of width 400 fit too.
    """
    chunk = _eval_chunk(model, len(X), chunk)
    if loss != "mse":
        check_loss(loss)
        total = torch.zeros(model.n_networks, dtype=torch.float64, device=model.device)
        for start in range(0, len(X), chunk):
            rows = slice(start, start + chunk)
            n = len(X[rows])
            total += model.per_network_loss(X[rows], Y[rows], loss).double() * n
        return (total / X.shape[0]).cpu().numpy()
    total = torch.zeros(model.n_networks, dtype=torch.float64, device=model.device)
    for start in range(0, len(X), chunk):
        err = model(X[start : start + chunk]) - Y[start : start + chunk]
        total += (err.double() ** 2).sum(dim=(1, 2))
    return (total / (X.shape[0] * Y.shape[1])).cpu().numpy()


@torch.no_grad()
def evaluate_accuracy(model: EnsembleMLP, X: torch.Tensor, Y: torch.Tensor, chunk: int | None = None) -> np.ndarray:
    """Share of rows each network classifies right (arg-max logit == class), shape ``(E,)``.

    ``Y`` holds class indices, shape (n,) or (n, 1). Ties go to the lower class (``argmax``).
    """
    chunk = _eval_chunk(model, len(X), chunk)
    target = class_targets(torch.as_tensor(Y))
    right = torch.zeros(model.n_networks, dtype=torch.float64, device=model.device)
    for start in range(0, len(X), chunk):
        pred = model(X[start : start + chunk]).argmax(dim=2)
        right += (pred == target[start : start + chunk].to(pred.device)).sum(dim=1).double()
    return (right / X.shape[0]).cpu().numpy()


def to_sequential(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    weight_masks: Sequence[np.ndarray] | None = None,
    bias_masks: Sequence[np.ndarray] | None = None,
) -> nn.Sequential:
    """One network as ``nn.Sequential(Linear, Tanh, ..., Linear)`` with prune masks applied.

    Each ``nn.Linear`` gets ``torch.nn.utils.prune.custom_from_mask`` for ``weight`` and
    ``bias``, so it carries ``weight_orig``/``weight_mask`` and ``bias_orig``/``bias_mask``
    like any module pruned with ``torch.nn.utils.prune``.

    Parameters
    ----------
    weights : list of arrays, shapes (n_out, n_in)
    biases : list of arrays, shapes (n_out,)
    weight_masks, bias_masks : lists of binary arrays of the same shapes; default all ones.
    """
    from torch.nn.utils import prune

    if len(weights) != len(biases) or not weights:
        raise ValueError("need the same, nonzero number of weight and bias arrays")
    weight_masks = weight_masks if weight_masks is not None else [np.ones_like(w, bool) for w in weights]
    bias_masks = bias_masks if bias_masks is not None else [np.ones_like(b, bool) for b in biases]
    layers: list[nn.Module] = []
    for l, (w, b, wm, bm) in enumerate(zip(weights, biases, weight_masks, bias_masks)):
        w = np.asarray(w, dtype=np.float32)
        b = np.asarray(b, dtype=np.float32)
        if w.ndim != 2 or b.shape != (w.shape[0],):
            raise ValueError(f"layer {l}: weight {w.shape} and bias {b.shape} do not fit a Linear layer")
        if l > 0 and w.shape[1] != weights[l - 1].shape[0]:
            raise ValueError(f"layer {l}: input width {w.shape[1]} != previous output width")
        wm = binary_mask(wm, f"weight mask of layer {l}")
        bm = binary_mask(bm, f"bias mask of layer {l}")
        if wm.shape != w.shape or bm.shape != b.shape:
            raise ValueError(f"layer {l}: mask shapes {wm.shape}, {bm.shape} do not match {w.shape}, {b.shape}")
        lin = nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w * wm))
            lin.bias.copy_(torch.from_numpy(b * bm))
        prune.custom_from_mask(lin, "weight", torch.from_numpy(wm.astype(np.float32)))
        prune.custom_from_mask(lin, "bias", torch.from_numpy(bm.astype(np.float32)))
        if l > 0:
            layers.append(nn.Tanh())
        layers.append(lin)
    return nn.Sequential(*layers)
