"""Check a whole config before anything is built, reporting every problem at once.

Checked: unknown top-level keys; every component's ``type`` (looked up in its registry);
every component argument against the class signature (``**kwargs`` classes excepted) and,
where the signature says, its type; the fixed sections (``train_cfg``, data loaders,
``optim_wrapper``, ``clip_grad``, ``paramwise_cfg``, ``auto_scale_lr``); simple ranges
(``max_epochs >= 1``, ``batch_size >= 1``, ...). Each message names the config path, what was
given, what was expected and the closest valid names, e.g.::

    optim_wrapper.optimizer: AdamW got an unexpected argument 'weight_decy' — did you mean
    'weight_decay'?

Top-level names starting with ``_`` are the user's own helper variables and are ignored; an
MMEngine-style config is first mapped onto trainkit's keys (:mod:`trainkit.config.mmengine`),
where other helper variables are told apart from misspelt keys.
"""
from typing import Any, Dict, Iterable, List, Optional, Sequence

import torch

from trainkit.config.consistency import consistency_problems
from trainkit.config.mmengine.carry_over import carry_over
from trainkit.config.mmengine.runtime import MMENGINE_KEYS
from trainkit.errors import ConfigError
from trainkit.hooks.tracking import backends_from_config
from trainkit.optim.builder import optimizer_entry
from trainkit.optim.schedule.param_name import param_name_fixed
from trainkit.optim.schedule.schedule import scheduler_entries
from trainkit.registry import (
    DATASETS,
    HOOKS,
    LOSSES,
    METRICS,
    MODELS,
    OPTIM_WRAPPER_CONSTRUCTORS,
    OPTIM_WRAPPERS,
    OPTIMIZERS,
    PARAM_SCHEDULERS,
    lookup,
)
from trainkit.utils.checks import expect_int, expect_number
from trainkit.utils.signature import Signature, describe_types, type_mismatch
from trainkit.utils.suggest import did_you_mean, unknown_keys

TOP_LEVEL_KEYS = (
    'run_name', 'work_dir', 'seed', 'deterministic', 'resume', 'ckpt_file', 'load_strict',
    'load_ema', 'finetune_modules', 'custom_imports', 'model', 'train_dataloader',
    'val_dataloader', 'loss', 'metrics', 'optim_wrapper', 'param_scheduler', 'train_cfg',
    'val_cfg', 'test_cfg', 'default_hooks', 'custom_hooks', 'auto_scale_lr', 'trainer',
    'device', 'ddp_cfg', 'default_scope', 'log_level', 'env_cfg',
    'vis_backends', 'visualizer', 'test_dataloader',
    'search',  # tools/search.py reads it (trainkit/tuning/settings.py); training ignores it
)
SCALAR_TYPES = {
    'run_name': (str,), 'work_dir': (str,), 'seed': (int, type(None)),
    'deterministic': (bool,), 'resume': (bool, str), 'ckpt_file': (str, type(None)),
    'load_strict': (bool,), 'load_ema': (bool,), 'finetune_modules': (list, tuple, str, type(None)),
    'device': (str, type(None)), 'ddp_cfg': (dict, type(None)),
    'default_scope': (str, type(None)), 'log_level': (str, int),
}
TRAIN_CFG_KEYS = ('type', 'by_epoch', 'max_epochs', 'val_interval', 'val_begin',
                  'max_iters')
DATALOADER_KEYS = ('dataset', 'batch_size', 'shuffle', 'num_workers', 'drop_last', 'pin_memory',
                   'persistent_workers', 'prefetch_factor', 'sampler', 'collate_fn')
OPTIM_WRAPPER_KEYS = ('type', 'optimizer', 'optimizer_kwargs', 'clip_grad',
                      'accumulative_counts', 'paramwise_cfg', 'constructor')
CLIP_NORM_KEYS = ('type', 'max_norm', 'norm_type', 'error_if_nonfinite', 'foreach')
CLIP_VALUE_KEYS = ('type', 'clip_value', 'foreach')
PARAMWISE_KEYS = ('bias_lr_mult', 'bias_decay_mult', 'norm_decay_mult', 'dwconv_decay_mult',
                  'flat_decay_mult', 'dcn_offset_lr_mult', 'bypass_duplicate', 'custom_keys')
SCHEDULER_EXTRA_KEYS = ('convert_to_iter_based',)


class Checker:
    """Collects problems; :meth:`raise_if_any` reports them together."""

    def __init__(self):
        self.problems: List[str] = []

    def add(self, problem: str) -> None:
        self.problems.append(problem)

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)

    # -- generic pieces -------------------------------------------------------------------
    def keys(self, section: Dict, allowed: Sequence[str], where: str) -> None:
        self.problems.extend(unknown_keys(section, allowed, where))

    def int_at_least(self, section: Dict, key: str, low: int, where: str) -> None:
        if key not in section or section[key] is None:
            return
        try:
            expect_int(section[key], f'{where}.{key}', at_least=low)
        except ConfigError as err:
            self.problems.extend(err.problems)

    def component(self, cfg: Any, registry, where: str, provided: Iterable[str] = (),
                  extra: Iterable[str] = ()) -> Optional[type]:
        """Check a ``dict(type=..., **kwargs)``; return the class (None if unusable)."""
        if not isinstance(cfg, dict):
            self.add(f'{where}: expected a dict with a "type", got {cfg!r}')
            return None
        if 'type' not in cfg:
            self.add(f'{where}: missing "type" (a registered {registry.name} name)')
            return None
        try:
            cls = lookup(registry, cfg['type'], f'{where}.type')
        except ConfigError as err:
            self.problems.extend(err.problems)
            return None
        self.arguments(cls, {k: v for k, v in cfg.items() if k != 'type'}, where,
                       provided=tuple(provided), extra=tuple(extra))
        return cls

    def arguments(self, cls, kwargs: Dict, where: str, provided=(), extra=()) -> None:
        sig = Signature(cls)
        name = getattr(cls, '__name__', str(cls))
        for key, value in kwargs.items():
            if key in extra:
                continue
            if not sig.accepts(key) or key in provided:
                self.add(f'{where}: {name} got an unexpected argument {key!r}'
                         f'{did_you_mean(key, [n for n in sig.names() if n not in provided])}')
                continue
            types = sig.expected_types(key)
            if type_mismatch(value, types):
                self.add(f'{where}.{key}: {name} expects {describe_types(types)}, got {value!r} '
                         f'({type(value).__name__}){_how_to_write(sig, key, value, types, where)}')
        missing = [n for n in sig.required(provided) if n not in kwargs]
        if missing:
            self.add(f'{where}: {name} is missing the required argument(s) '
                     f'{", ".join(map(repr, missing))}')


def _how_to_write(sig, key: str, value, types, where: str) -> str:
    """For a word where a bool or a number is expected: how to write it on the command line
    (with the parameter's default as the example when it has the right type)."""
    if not isinstance(value, str) or not {bool, int, float} & set(types):
        return ''
    param = sig.params.get(key)
    default = getattr(param, 'default', None)
    if bool in types:
        example = default if isinstance(default, bool) else False
        return f'; write --cfg-options {where}.{key}={example} (or {not example})'
    example = default if isinstance(default, (int, float)) and not isinstance(default, bool) \
        else (1 if float not in types else 0.5)
    return f'; write a number without quotes, e.g. --cfg-options {where}.{key}={example}'


# ------------------------------------------------------------------------------ sections
def _top_level(chk: Checker, cfg: Dict) -> None:
    known = TOP_LEVEL_KEYS + MMENGINE_KEYS
    for key, value in cfg.items():
        if key.startswith('_'):
            continue
        if key not in known:
            chk.add(f'unknown top-level key {key!r}{did_you_mean(key, known)} (a helper variable '
                    f'of your own: prefix it with "_" or use its value in the config)')
        elif key in SCALAR_TYPES and not isinstance(value, SCALAR_TYPES[key]):
            chk.add(f'{key}: expected {describe_types(SCALAR_TYPES[key])}, got {value!r} '
                    f'({type(value).__name__})')
    for required in ('model', 'optim_wrapper'):
        if cfg.get(required) is None:
            chk.add(f'{required}: missing; every training config needs one')
    if cfg.get('train_dataloader') is None:
        chk.add('train_dataloader: missing; e.g. train_dataloader = dict(dataset=dict(type=...), '
                'batch_size=32, shuffle=True)')


def _train_cfg(chk: Checker, cfg: Dict) -> None:
    section = cfg.get('train_cfg') or {}
    if not isinstance(section, dict):
        chk.add(f'train_cfg: expected a dict, got {section!r}')
        return
    chk.keys(section, TRAIN_CFG_KEYS, 'train_cfg')
    loop = section.get('type', 'EpochBasedTrainLoop')
    if loop not in ('EpochBasedTrainLoop', 'IterBasedTrainLoop'):
        chk.add(f"train_cfg.type: {loop!r} is not supported; use 'EpochBasedTrainLoop' "
                f"(max_epochs) or 'IterBasedTrainLoop' (max_iters)")
    by_iter = loop == 'IterBasedTrainLoop' or section.get('by_epoch', True) is False
    if section.get('by_epoch', True) not in (True, False):
        chk.add(f"train_cfg.by_epoch: expected True or False, got {section['by_epoch']!r}")
    elif loop == 'IterBasedTrainLoop' and section.get('by_epoch') is True:
        chk.add("train_cfg: type='IterBasedTrainLoop' with by_epoch=True; drop by_epoch")
    if by_iter and 'max_iters' not in section:
        chk.add('train_cfg: an iteration-based loop needs max_iters (the number of '
                'iterations to train), e.g. train_cfg=dict(by_epoch=False, max_iters=10000, '
                'val_interval=1000)')
    if by_iter and 'max_epochs' in section:
        chk.add('train_cfg: max_epochs and an iteration-based loop (max_iters) exclude each '
                'other; give one')
    if 'max_iters' in section and not by_iter:
        chk.add("train_cfg.max_iters: needs type='IterBasedTrainLoop' or by_epoch=False; "
                "for epochs give max_epochs")
    for key in ('max_epochs', 'val_interval', 'val_begin', 'max_iters'):
        chk.int_at_least(section, key, 1, 'train_cfg')


def _dataloader(chk: Checker, cfg: Dict, key: str) -> None:
    section = cfg.get(key)
    if section is None:
        return
    if not isinstance(section, dict):
        chk.add(f'{key}: expected a dict(dataset=..., batch_size=...), got {section!r}')
        return
    chk.keys(section, DATALOADER_KEYS, key)
    chk.int_at_least(section, 'batch_size', 1, key)
    chk.int_at_least(section, 'num_workers', 0, key)
    if 'dataset' not in section:
        chk.add(f'{key}.dataset: missing; e.g. dataset=dict(type="SpiceDataset", path=...)')
    else:
        chk.component(section['dataset'], DATASETS, f'{key}.dataset')
    sampler = section.get('sampler')
    if sampler is not None and (not isinstance(sampler, dict) or sampler.get(
            'type', 'DefaultSampler') != 'DefaultSampler'):
        chk.add(f"{key}.sampler: only dict(type='DefaultSampler', shuffle=...) is supported, "
                f'got {sampler!r}')


def _optim_wrapper(chk: Checker, cfg: Dict) -> None:
    section = cfg.get('optim_wrapper')
    if not isinstance(section, dict):
        if section is not None:
            chk.add(f'optim_wrapper: expected a dict(optimizer=...), got {section!r}')
        return
    wrapper_cls = _wrapper_class(chk, section)
    allowed = list(OPTIM_WRAPPER_KEYS)
    if wrapper_cls is not None:
        allowed += [n for n in Signature(wrapper_cls).names() if n not in allowed]
    chk.keys(section, allowed, 'optim_wrapper')
    _optimizer(chk, section)
    _clip_grad(chk, section.get('clip_grad'))
    chk.int_at_least(section, 'accumulative_counts', 1, 'optim_wrapper')
    _constructor_and_paramwise(chk, section)


def _wrapper_class(chk: Checker, section: Dict) -> Optional[type]:
    try:
        return lookup(OPTIM_WRAPPERS, section.get('type', 'OptimWrapper'), 'optim_wrapper.type')
    except ConfigError as err:
        chk.problems.extend(err.problems)
        return None


def _optimizer(chk: Checker, section: Dict) -> None:
    try:
        optimizer = optimizer_entry(section)
    except ConfigError as err:
        chk.problems.extend(err.problems)
        return
    chk.component(optimizer, OPTIMIZERS, 'optim_wrapper.optimizer', provided=('params',))


def _clip_grad(chk: Checker, clip: Any) -> None:
    if clip is None:
        return
    if not isinstance(clip, dict):
        chk.add(f'optim_wrapper.clip_grad: expected dict(max_norm=...) or dict(type="value", '
                f'clip_value=...), got {clip!r}')
        return
    kind = clip.get('type', 'norm')
    if kind not in ('norm', 'value'):
        chk.add(f"optim_wrapper.clip_grad.type: expected 'norm' or 'value', got {kind!r}")
        return
    allowed, needed = (CLIP_NORM_KEYS, 'max_norm') if kind == 'norm' else (CLIP_VALUE_KEYS,
                                                                             'clip_value')
    chk.keys(clip, allowed, 'optim_wrapper.clip_grad')
    try:
        expect_number(clip.get(needed), f'optim_wrapper.clip_grad.{needed}', above=0)
    except ConfigError as err:
        chk.problems.extend(err.problems)


def _constructor_and_paramwise(chk: Checker, section: Dict) -> None:
    constructor = section.get('constructor') or 'DefaultOptimWrapperConstructor'
    if isinstance(constructor, dict):
        constructor = constructor.get('type', 'DefaultOptimWrapperConstructor')
    try:
        ctor_cls = lookup(OPTIM_WRAPPER_CONSTRUCTORS, constructor, 'optim_wrapper.constructor')
    except ConfigError as err:
        chk.problems.extend(err.problems)
        return
    paramwise = section.get('paramwise_cfg')
    if paramwise is None:
        return
    if not isinstance(paramwise, dict):
        chk.add(f'optim_wrapper.paramwise_cfg: expected a dict, got {paramwise!r}')
        return
    keys = getattr(ctor_cls, 'paramwise_keys', None)
    if keys is None and getattr(ctor_cls, '__name__', '') == 'DefaultOptimWrapperConstructor':
        keys = PARAMWISE_KEYS
    if keys is not None:
        chk.keys(paramwise, keys, 'optim_wrapper.paramwise_cfg')
    custom_keys = paramwise.get('custom_keys') or {}
    if not isinstance(custom_keys, dict):
        chk.add(f'optim_wrapper.paramwise_cfg.custom_keys: expected a dict {{name part: '
                f'dict(lr_mult=..., decay_mult=...)}}, got {custom_keys!r} '
                f'({type(custom_keys).__name__}); on the command line write it as a literal, '
                f"e.g. custom_keys=\"{{'embed': {{'lr_mult': 0.1}}}}\"")
        return
    for name, spec in custom_keys.items():
        if not isinstance(spec, dict):
            chk.add(f'optim_wrapper.paramwise_cfg.custom_keys.{name}: expected '
                    f'dict(lr_mult=..., decay_mult=...), got {spec!r}')
        else:
            chk.keys(spec, ('lr_mult', 'decay_mult'),
                     f'optim_wrapper.paramwise_cfg.custom_keys.{name}')


def _param_scheduler(chk: Checker, cfg: Dict) -> None:
    try:
        entries = scheduler_entries(cfg.get('param_scheduler'))
    except ConfigError as err:
        chk.problems.extend(err.problems)
        return
    for where, entry in entries:
        cls = _scheduler_class(entry)
        # an ...LR / ...Momentum class sets param_name itself; a ...ParamScheduler takes it
        provided = ('optimizer', 'param_name') if cls is None or param_name_fixed(cls) else (
            'optimizer',)
        chk.component(entry, PARAM_SCHEDULERS, where, provided=provided,
                      extra=SCHEDULER_EXTRA_KEYS)


def _scheduler_class(entry: Any) -> Optional[type]:
    if not isinstance(entry, dict) or 'type' not in entry:
        return None
    try:
        return lookup(PARAM_SCHEDULERS, entry['type'])
    except ConfigError:
        return None  # reported by chk.component


def _hooks(chk: Checker, cfg: Dict) -> None:
    defaults = cfg.get('default_hooks') or {}
    if not isinstance(defaults, dict):
        chk.add(f'default_hooks: expected a dict {{name: hook config or None}}, got {defaults!r}')
        defaults = {}
    for name, hook in defaults.items():
        if hook is not None:
            chk.component(hook, HOOKS, f'default_hooks.{name}', extra=('priority',))
    custom = cfg.get('custom_hooks') or []
    if not isinstance(custom, (list, tuple)):
        chk.add(f'custom_hooks: expected a list of hook configs, got {custom!r}')
        return
    for i, hook in enumerate(custom):
        chk.component(hook, HOOKS, f'custom_hooks.{i}', extra=('priority',))


def _auto_scale_lr(chk: Checker, cfg: Dict) -> None:
    section = cfg.get('auto_scale_lr')
    if section is None:
        return
    if not isinstance(section, dict):
        chk.add(f'auto_scale_lr: expected dict(base_batch_size=..., enable=...), got {section!r}')
        return
    chk.keys(section, ('base_batch_size', 'enable', 'rule'), 'auto_scale_lr')
    chk.int_at_least(section, 'base_batch_size', 1, 'auto_scale_lr')


def _run_name_and_work_dir(chk: Checker, cfg: Dict) -> None:
    """run_name names files inside work_dir: it must be a plain non-empty file-name part."""
    run_name = cfg.get('run_name')
    if isinstance(run_name, str):
        if not run_name.strip():
            chk.add(f'run_name: expected a non-empty name, got {run_name!r}; it starts every '
                    f'file name in work_dir (e.g. run_name=\'spice-demo\')')
        elif '/' in run_name or '\\' in run_name or run_name in ('.', '..'):
            chk.add(f'run_name: {run_name!r} contains a path separator; run_name starts the '
                    f'file names inside work_dir, so give the folder as work_dir and a plain '
                    f'name as run_name')
    work_dir = cfg.get('work_dir')
    if isinstance(work_dir, str) and not work_dir.strip():
        chk.add(f'work_dir: expected a folder, got {work_dir!r}; e.g. --work-dir work_dirs/run1')


LOADER_FLAGS = ('shuffle', 'drop_last', 'pin_memory', 'persistent_workers')
DEVICE_SPELLINGS = {'gpu': 'cuda', 'cuda:gpu': 'cuda', 'nvidia': 'cuda', 'cpu:0': 'cpu'}


def _dataloader_flags(chk: Checker, cfg: Dict, key: str) -> None:
    """DataLoader flags are bools: 'Flase', 'yes' or 1 would be taken as true silently."""
    section = cfg.get(key)
    if not isinstance(section, dict):
        return
    for flag in LOADER_FLAGS:
        value = section.get(flag)
        if value is not None and not isinstance(value, bool):
            chk.add(f'{key}.{flag}: expected True or False, got {value!r} '
                    f'({type(value).__name__}); write --cfg-options {key}.{flag}=False '
                    f'(or True)')


def _device(chk: Checker, cfg: Dict) -> None:
    """device names a torch device this machine has."""
    device = cfg.get('device')
    if not isinstance(device, str):
        return
    meant = DEVICE_SPELLINGS.get(device.strip().lower())
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        hint = f"; did you mean {meant!r}?" if meant else " (e.g. 'cpu', 'cuda', 'cuda:1')"
        chk.add(f'device: {device!r} is not a torch device{hint}')
        return
    if parsed.type == 'cuda' and not torch.cuda.is_available():
        chk.add(f"device: {device!r} was asked for, but CUDA is not available on this machine "
                f"(torch {torch.__version__}); use device='cpu' or leave device unset")


def _vis_backends(chk: Checker, cfg: Dict) -> None:
    """MMEngine's ``vis_backends`` / ``visualizer``: well-formed, packages installed."""
    try:
        backends_from_config(cfg)
    except ConfigError as err:
        chk.add(str(err))


def validate_config(cfg: Dict) -> List[str]:
    """Raise one :class:`ConfigError` listing every problem found in ``cfg`` (a plain dict,
    mapped in place from MMEngine's keys first); return the notices of that mapping (keys
    accepted and not used, one line each)."""
    report = carry_over(cfg, TOP_LEVEL_KEYS + MMENGINE_KEYS)
    chk = Checker()
    chk.problems.extend(report.problems)
    _top_level(chk, cfg)
    _train_cfg(chk, cfg)
    if cfg.get('model') is not None:
        chk.component(cfg['model'], MODELS, 'model')
    _dataloader(chk, cfg, 'train_dataloader')
    _dataloader(chk, cfg, 'val_dataloader')
    _dataloader(chk, cfg, 'test_dataloader')
    if cfg.get('loss') is not None:
        chk.component(cfg['loss'], LOSSES, 'loss')
    if cfg.get('metrics') is not None:
        chk.component(cfg['metrics'], METRICS, 'metrics')
    _optim_wrapper(chk, cfg)
    _param_scheduler(chk, cfg)
    _hooks(chk, cfg)
    _auto_scale_lr(chk, cfg)
    _run_name_and_work_dir(chk, cfg)
    _dataloader_flags(chk, cfg, 'train_dataloader')
    _dataloader_flags(chk, cfg, 'val_dataloader')
    _dataloader_flags(chk, cfg, 'test_dataloader')
    _device(chk, cfg)
    _vis_backends(chk, cfg)
    for problem in consistency_problems(cfg):
        chk.add(problem)
    chk.raise_if_any()
    return report.notices
