"""Values that are valid alone but not together, checked on the whole (canonical) config by
:func:`~trainkit.config.validate.validate_config`, so ``--dry-run`` reports them too:

* ``finetune_modules`` without weights to start from (``ckpt_file``, or ``resume``): it
  would freeze a randomly initialised model;
* an LR floor above the LR: a scheduler's ``eta_min`` / ``stop_lr`` (the reference
  trainer's ``min_lr``) larger than the optimizer's ``lr`` (its ``max_lr``);
* a plateau scheduler with a negative ``patience``;
* a training and a validation dataset of one type reading one file but configured
  differently (another ``seed`` or ``val_fraction`` would let validation molecules leak into
  training; other units would compare unlike numbers), or validating on ``split='all'``.

Example::

    problems = consistency_problems(dict(finetune_modules=['output'], ckpt_file=None, ...))
"""
import inspect
from typing import Dict, List

from trainkit.errors import ConfigError
from trainkit.registry import DATASETS, lookup
from trainkit.utils.signature import Signature

# scheduler arguments that are a lower bound of the learning rate
LR_FLOORS = ('eta_min', 'stop_lr', 'min_value')


def _scheduler_entries(cfg: Dict) -> List[tuple]:
    value = cfg.get('param_scheduler')
    if isinstance(value, dict):
        return [('param_scheduler', value)]
    if isinstance(value, (list, tuple)):
        return [(f'param_scheduler.{i}', e) for i, e in enumerate(value) if isinstance(e, dict)]
    return []


def _optimizer_lr(cfg: Dict):
    wrapper = cfg.get('optim_wrapper')
    optimizer = wrapper.get('optimizer') if isinstance(wrapper, dict) else None
    lr = optimizer.get('lr') if isinstance(optimizer, dict) else None
    return lr if isinstance(lr, (int, float)) and not isinstance(lr, bool) else None


def _finetune_without_weights(cfg: Dict) -> List[str]:
    modules = cfg.get('finetune_modules')
    if not modules or cfg.get('ckpt_file') or cfg.get('resume'):
        return []
    return [f'finetune_modules={modules!r} trains only those parameters and freezes the rest, '
            f'but no weights are loaded (ckpt_file=None, resume=False): the frozen parameters '
            f'would keep their random initial values for the whole run. Set ckpt_file to the '
            f'pretrained checkpoint (--cfg-options ckpt_file=path/to/pretrained.pt), or drop '
            f'finetune_modules to train every parameter']


def _floor_above_lr(cfg: Dict) -> List[str]:
    lr = _optimizer_lr(cfg)
    if lr is None:
        return []
    problems = []
    for where, entry in _scheduler_entries(cfg):
        kind = str(entry.get('type', ''))
        if not (kind.endswith('LR') or entry.get('param_name') == 'lr'):
            continue  # a momentum or other parameter scheduler: its floor is not an LR
        for key in LR_FLOORS:
            floor = entry.get(key)
            if isinstance(floor, (int, float)) and not isinstance(floor, bool) and floor > lr:
                problems.append(
                    f'{where}.{key}={floor:g} ({kind}) is above the learning rate '
                    f'optim_wrapper.optimizer.lr={lr:g}: the LR floor must not exceed the LR '
                    f'(in a reference-style trainer: section, min_lr must not exceed max_lr); '
                    f'lower {key} or raise lr')
    return problems


def _plateau_patience(cfg: Dict) -> List[str]:
    problems = []
    for where, entry in _scheduler_entries(cfg):
        patience = entry.get('patience')
        if 'Plateau' in str(entry.get('type', '')) and patience is not None and not (
                isinstance(patience, int) and not isinstance(patience, bool) and patience >= 0):
            problems.append(f'{where}.patience: expected an int >= 0 (the validations without '
                            f'improvement before the LR is reduced), got {patience!r}')
    return problems


# dataset arguments that may differ between the training and the validation side of one file
PER_SPLIT_ARGS = ('split', 'demo_if_missing', 'max_conformations')


def _dataset_args(spec: Dict) -> Dict:
    """A dataset config with its class's defaults filled in ({} when unknown)."""
    try:
        cls = lookup(DATASETS, spec.get('type'), 'dataset.type')
    except ConfigError:
        return {}
    defaults = {name: p.default for name, p in Signature(cls).params.items()
                if p.default is not inspect.Parameter.empty}
    return {**defaults, **{k: v for k, v in spec.items() if k != 'type'}}


def _split_mismatch(cfg: Dict) -> List[str]:
    specs = [cfg.get(where) for where in ('train_dataloader', 'val_dataloader')]
    specs = [s.get('dataset') if isinstance(s, dict) else None for s in specs]
    if not all(isinstance(s, dict) and s.get('path') for s in specs) or \
            specs[0].get('type') != specs[1].get('type') or specs[0]['path'] != specs[1]['path']:
        return []
    train, val = (_dataset_args(s) for s in specs)
    if 'split' not in val:
        return []
    if val['split'] == 'all' or val['split'] == train.get('split'):
        return [f"val_dataloader.dataset: split={val['split']!r} of {val['path']!r}, the file "
                f"train_dataloader reads with split={train.get('split')!r}: validation would "
                f"score samples the model trains on; use split='val' for validation and "
                f"split='train' for training"]
    differ = [k for k in sorted(set(train) | set(val)) if k not in PER_SPLIT_ARGS and
              train.get(k) != val.get(k)]
    if not differ:
        return []
    shown = ', '.join(f'{k}: {train.get(k)!r} vs {val.get(k)!r}' for k in differ)
    return [f'train_dataloader.dataset and val_dataloader.dataset read {val["path"]!r} with '
            f'different settings ({shown}; train vs val). The split is made from seed, '
            f'val_fraction, max_molecules and elements, so different values let validation '
            f'samples leak into training, and other units or keys compare unlike numbers; give '
            f'both the same values (only {", ".join(PER_SPLIT_ARGS)} may differ)']


def consistency_problems(cfg: Dict) -> List[str]:
    """One line per combination of values that does not fit together."""
    return (_finetune_without_weights(cfg) + _floor_above_lr(cfg) + _plateau_patience(cfg) +
            _split_mismatch(cfg))
