"""Validation metrics: MAE and RMSE per target over the whole validation set.

Errors are summed on the device during validation (no host sync per batch) and reduced once,
over all ranks, at the end: ``MAE = Σ|e| / n`` and ``RMSE = sqrt(Σe² / n)`` with ``n`` the
number of elements (a force error counts per component), not averages of batch averages.
A batch costs four reductions and two in-place adds per target; the element counts are Python
ints (exact, and known without a device op).
"""
import math
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Protocol, runtime_checkable

import torch
import torch.distributed as dist

from trainkit.errors import ConfigError, DataError
from trainkit.registry import METRICS
from trainkit.utils.dist import is_distributed


@runtime_checkable
class Metrics(Protocol):
    """What the Runner calls on a metrics object (``metrics=dict(type=...)`` or an instance):
    ``reset()`` before validating, ``update(preds, batch)`` per batch, ``compute(reduce_fn)``
    once at the end (``reduce_fn`` sums a list of tensors over all ranks in place).

    Two optional methods, each declared by a protocol of its own below: ``metric_names()``
    (:class:`NamedMetrics`) and ``bind_loss_weights()`` (:class:`LossWeightedMetrics`).

    Config example::

        metrics = dict(type='MyMetrics')   # a registered class with these three methods
    """

    def reset(self) -> None: ...

    def update(self, preds: Mapping, batch: Mapping) -> None: ...

    def compute(self, reduce_fn: Optional[Callable] = None) -> Dict[str, float]: ...


@runtime_checkable
class NamedMetrics(Protocol):
    """Metrics that know before validating every name ``compute`` may return: hooks and
    schedulers then check the metric they monitor before the first step
    (``metrics = dict(type='ErrorMetrics')`` has it)."""

    def metric_names(self) -> List[str]: ...


@runtime_checkable
class LossWeightedMetrics(Protocol):
    """Metrics that take their defaults from the loss's ``losses_weight`` (called once by
    the Runner after building both; ``metrics = dict(type='ErrorMetrics')`` has it)."""

    def bind_loss_weights(self, losses_weight: Optional[Mapping[str, float]]) -> None: ...


@METRICS.register_module()
class ErrorMetrics:
    """MAE and RMSE of each target, per-atom errors and the weighted MAE.

    Args:
        targets: names looked up in the predictions and the batch. Defaults to the loss's
            ``losses_weight`` targets.
        weights: ``{target: weight}`` for ``weighted_mae = Σ_k w_k·MAE_k``. Defaults to the
            loss's ``losses_weight`` (the value the reference reports as "Best Valid MAE").
        per_atom: targets also reported divided by the molecule's atom count (``n_atoms`` in
            the batch), as ``{target}_per_atom_mae`` / ``_rmse``. Defaults to ``('energy',)``;
            ignored for a target whose shape does not match ``n_atoms``.

    Keys of :meth:`compute`: ``{t}_mae``, ``{t}_rmse``, ``{t}_per_atom_mae``,
    ``{t}_per_atom_rmse``, ``weighted_mae``.

    Config example::

        metrics = dict(type='ErrorMetrics', per_atom=['energy'])
    """

    def __init__(self, targets: Optional[Iterable[str]] = None,
                 weights: Optional[Mapping[str, float]] = None,
                 per_atom: Iterable[str] = ('energy',)):
        self.targets = list(targets) if targets is not None else None
        self.weights = dict(weights) if weights is not None else None
        self.per_atom = tuple(per_atom)
        self._sums: Dict[str, List[torch.Tensor]] = {}  # key -> [Σ|e|, Σe²], float64
        self._counts: Dict[str, int] = {}

    def bind_loss_weights(self, losses_weight: Optional[Mapping[str, float]]) -> None:
        """Fill the defaults from the loss (called by the Runner)."""
        if losses_weight:
            if self.targets is None:
                self.targets = list(losses_weight)
            if self.weights is None:
                self.weights = dict(losses_weight)
        if not self.targets:
            raise ConfigError('metrics: no targets; set metrics.targets or a loss with '
                              'losses_weight')

    def _keys_of_all_ranks(self, keys: List[str]) -> List[str]:
        """The union of the keys every rank has seen, in one order on all ranks (a rank
        whose validation shard is empty has none, yet must join the reduction)."""
        gathered = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, keys)
        union = set().union(*gathered)
        order = [f'{t}{suffix}' for t in self.targets or [] for suffix in ('', '_per_atom')]
        return [k for k in order if k in union] + sorted(union.difference(order))

    def metric_names(self) -> List[str]:
        """Every key :meth:`compute` may return (per-atom keys need ``n_atoms`` batches)."""
        names = []
        for target in self.targets or []:
            bases = [target] + ([f'{target}_per_atom'] if target in self.per_atom else [])
            names += [f'{base}_{kind}' for base in bases for kind in ('mae', 'rmse')]
        return names + (['weighted_mae'] if self.weights else [])

    def reset(self) -> None:
        # new dicts, not clear(): the LoggerHook's train metrics are a shallow copy of these
        self._sums, self._counts = {}, {}

    def update(self, preds: Mapping, batch: Mapping) -> None:
        """Add one batch's errors (stays on the device). The prediction is detached, so no
        autograd graph is built (validation runs under ``no_grad`` anyway); a ``no_grad``
        context here would cost more than the update on a small batch."""
        for target in self.targets:
            if target not in preds or target not in batch:
                where = 'predictions' if target not in preds else 'batch'
                have = sorted(preds if where == 'predictions' else batch)
                raise DataError(f'metric target {target!r} is missing in the {where}; it has '
                                f'{have}')
            diff = (preds[target].detach() - batch[target]).double()
            self._add(target, diff)
            n_atoms = batch.get('n_atoms') if target in self.per_atom else None
            if n_atoms is not None and n_atoms.shape == diff.shape:
                self._add(f'{target}_per_atom', diff / n_atoms)

    def _add(self, key: str, diff: torch.Tensor) -> None:
        abs_sum, sq_sum = diff.abs().sum(), diff.square().sum()
        sums = self._sums.get(key)
        if sums is None:
            self._sums[key], self._counts[key] = [abs_sum, sq_sum], diff.numel()
        else:
            sums[0] += abs_sum
            sums[1] += sq_sum
            self._counts[key] += diff.numel()

    def compute(self, reduce_fn=None) -> Dict[str, float]:
        """Return the metrics; ``reduce_fn`` sums a tensor over ranks (one collective call)."""
        keys = list(self._sums)
        reduce = reduce_fn is not None and is_distributed()
        if reduce:
            keys = self._keys_of_all_ranks(keys)
        if not keys:
            return {}
        sums = torch.stack([s for key in keys for s in self._sums.get(key) or _no_sums()])
        counts = [float(self._counts.get(key, 0)) for key in keys]
        if reduce:  # the counts travel with the sums: one collective
            table = reduce_fn(torch.cat([sums, sums.new_tensor(counts)])).tolist()
            sums, counts = table[:2 * len(keys)], table[2 * len(keys):]
        else:
            sums = sums.tolist()  # one host read (tolist copies from a GPU itself)
        result = {}
        for i, (key, count) in enumerate(zip(keys, counts)):
            abs_sum, sq_sum = sums[2 * i], sums[2 * i + 1]
            result[f'{key}_mae'] = abs_sum / count if count else math.nan
            result[f'{key}_rmse'] = math.sqrt(sq_sum / count) if count else math.nan
        if self.weights:
            result['weighted_mae'] = sum(w * result[f'{t}_mae'] for t, w in self.weights.items()
                                         if f'{t}_mae' in result)
        return result


def _no_sums() -> List[torch.Tensor]:
    """The sums of a key this rank saw no batch of: zeros that join the reduction."""
    zero = torch.zeros((), dtype=torch.float64, device=_collective_device())
    return [zero, zero]


def _collective_device() -> torch.device:
    """Where a tensor for a collective must live: the current GPU under NCCL, else CPU."""
    if dist.get_backend() == 'nccl':
        return torch.device('cuda', torch.cuda.current_device())
    return torch.device('cpu')
