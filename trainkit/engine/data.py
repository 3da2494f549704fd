"""Build data loaders from ``train_dataloader`` / ``val_dataloader`` dicts.

::

    train_dataloader = dict(dataset=dict(type='SpiceDataset', path='data/spice.hdf5'),
                            batch_size=32, shuffle=True, num_workers=0)

Shuffling uses a generator the Runner reseeds at every epoch from ``(data seed, epoch)``, so
the order of an epoch does not depend on what ran before it — a resumed run sees the same
batches as an uninterrupted one. Under torchrun the training set is split with
``DistributedSampler`` (same seed, ``set_epoch`` each epoch) and the validation set with
:class:`ShardSampler`, which does not pad, so metrics count every sample exactly once. A
dataset's own ``collate_fn`` attribute is used when the config gives none.

:func:`check_loss_targets` collates the first sample of a loader once, before training, so a
``losses_weight`` target the batches do not carry is reported before any optimizer step. It
fetches the sample as the DataLoader does: with ``dataset.__getitems__([0])`` when the dataset
fetches whole batches, else ``[dataset[0]]``.

The training loader's sampler is a :class:`ResumableSampler`: a resume from a checkpoint
written inside an epoch tells it how many indices of the epoch's order were already trained
on, and it yields only the rest — the skipped batches are never loaded.
"""
import itertools
import random
from typing import Any, Dict, Iterator, Mapping

import numpy as np
import torch
from torch.utils.data import (
    DataLoader,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
)
from torch.utils.data._utils.collate import default_collate

from trainkit.errors import ConfigError, DataError
from trainkit.registry import DATASETS, build
from trainkit.utils.suggest import did_you_mean

_LOADER_KEYS = ('batch_size', 'num_workers', 'drop_last', 'pin_memory', 'persistent_workers',
                'prefetch_factor')


class ShardSampler(Sampler):
    """Rank ``r`` of ``w`` takes indices ``r, r + w, r + 2w, …`` — no padding, no shuffling."""

    def __init__(self, dataset, rank: int, world_size: int):
        self.indices = list(range(rank, len(dataset), world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class ResumableSampler(Sampler):
    """The indices of ``sampler`` (a random permutation, a rank's shard, ...), less the first
    ``skip`` of them in the next epoch only: how a run resumed inside an epoch continues with
    the batch after the last one it trained on, in the same order, without loading the
    batches before it. ``set_epoch`` goes to the wrapped sampler.

    Example::

        sampler = ResumableSampler(RandomSampler(dataset, generator=generator))
        sampler.skip = 3 * batch_size      # the next epoch starts at its 4th batch
    """

    def __init__(self, sampler: Sampler):
        self.sampler = sampler
        self.skip = 0

    def __iter__(self) -> Iterator[int]:
        # the wrapped order is drawn in full (a randperm: no data is touched), so the
        # generators advance exactly as in an epoch that is not resumed
        skip, self.skip = self.skip, 0
        indices = iter(self.sampler)
        return itertools.islice(indices, skip, None) if skip else indices

    def __len__(self) -> int:
        return max(len(self.sampler) - self.skip, 0)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, 'set_epoch'):
            self.sampler.set_epoch(epoch)


def move_batch(batch, device: torch.device):
    """``batch`` (a tensor, or dicts, lists and tuples of them) with its tensors on ``device``;
    other values are left as they are."""
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: move_batch(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_batch(v, device) for v in batch)
    return batch


def build_dataset(cfg: Dict[str, Any], where: str):
    """Build a dataset from ``dict(type=..., **kwargs)``."""
    return build(DATASETS, cfg, where)


def _seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def _collate_fn(spec, dataset):
    if spec is None:
        return getattr(dataset, 'collate_fn', None) or default_collate
    if callable(spec):
        return spec
    name = spec.get('type') if isinstance(spec, dict) else spec
    if name == 'default_collate':
        return default_collate
    raise ConfigError(f"collate_fn: {spec!r} is not supported; leave it out (the dataset's own "
                      f"collate_fn or default_collate is used) or give 'default_collate'")


def build_dataloader(cfg: Dict[str, Any], where: str, *, training: bool,
                     generator: torch.Generator, rank: int = 0, world_size: int = 1,
                     seed: int = 0) -> DataLoader:
    """Build a DataLoader; ``generator`` drives shuffling and worker seeds."""
    cfg = dict(cfg)
    dataset = cfg['dataset']
    if isinstance(dataset, dict):
        dataset = build_dataset(dataset, f'{where}.dataset')
    if len(dataset) == 0:
        raise DataError(f'{where}.dataset is empty: {type(dataset).__name__} has no samples')
    sampler_cfg = cfg.get('sampler') or {}
    shuffle = cfg.get('shuffle', sampler_cfg.get('shuffle', training))
    loader_kwargs = {k: cfg[k] for k in _LOADER_KEYS if k in cfg}
    loader_kwargs.setdefault('batch_size', 1)
    collate_fn = _collate_fn(cfg.get('collate_fn'), dataset)
    sampler = None
    if world_size > 1:
        sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank,
                                     shuffle=shuffle, seed=seed,
                                     drop_last=cfg.get('drop_last', False)) if training \
            else ShardSampler(dataset, rank, world_size)
        shuffle = False
    if training and not isinstance(dataset, IterableDataset):
        # what DataLoader(shuffle=...) would build, with the same generator
        sampler = ResumableSampler(sampler or (RandomSampler(dataset, generator=generator)
                                               if shuffle else SequentialSampler(dataset)))
        shuffle = False
    return DataLoader(dataset, shuffle=shuffle, sampler=sampler, collate_fn=collate_fn,
                      generator=generator, worker_init_fn=_seed_worker, **loader_kwargs)


def skip_batches(loader, batches: int):
    """``loader``'s batches of this epoch after the first ``batches``: its
    :class:`ResumableSampler` leaves their indices out; any other loader is iterated through
    them (loading their data, but the rest comes out as in an uninterrupted epoch)."""
    if not batches:
        return loader
    sampler = getattr(loader, 'sampler', None)
    if isinstance(sampler, ResumableSampler) and loader.batch_sampler is not None \
            and getattr(loader.batch_sampler, 'sampler', None) is sampler:
        sampler.skip = batches * loader.batch_size
        return iter(loader)
    return itertools.islice(iter(loader), batches, None)


def check_loss_targets(loss, loader, where: str) -> None:
    """Raise :class:`DataError` if a target of ``loss.losses_weight`` is not in the batches.

    One sample goes through the loader's ``collate_fn``, fetched as the DataLoader fetches a
    batch (:func:`_first_sample`); iterable datasets, losses without ``losses_weight`` and
    loaders without a dataset are not checked.
    """
    targets = getattr(loss, 'losses_weight', None)
    dataset = getattr(loader, 'dataset', None)
    if not targets or dataset is None or isinstance(dataset, IterableDataset):
        return
    batch = loader.collate_fn(_first_sample(dataset))
    if not isinstance(batch, Mapping):
        raise DataError(f'{where}: the loss looks up its targets {sorted(targets)} by name, but '
                        f'a batch is a {type(batch).__name__}, not a dict; make the dataset '
                        f'return dicts such as {{"x": ..., "{next(iter(targets))}": ...}}')
    missing = [t for t in targets if t not in batch]
    if missing:
        named = '; '.join(f'{t!r}{did_you_mean(t, batch)}' for t in missing)
        raise DataError(f'loss.losses_weight: the batches of {where} have no target {named} '
                        f'(a batch has {sorted(batch)}; checked on the first sample, before '
                        f'training). Fix losses_weight or the dataset.')


def _first_sample(dataset):
    """A one-sample batch before collation, fetched as torch's DataLoader fetches batches: a
    dataset with ``__getitems__`` builds a batch itself (its ``collate_fn`` may expect that
    batch, not a list of items)."""
    getitems = getattr(dataset, '__getitems__', None)
    if getitems:
        return getitems([0])
    return [dataset[0]]
