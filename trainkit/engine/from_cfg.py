"""From a config to the Runner's arguments: normalize, validate, build the model and hooks.

The steps, in order (each raises :class:`~trainkit.errors.ConfigError` on bad input, before
anything heavy is built):

1. ``custom_imports`` are imported, so user components are registered;
2. the reference-style ``trainer`` section and shorthands (``save_dir``, ``grad_clip``,
   ``num_workers``, ``max_epochs``) are expanded into the canonical keys
   (:mod:`trainkit.config.reference.expand`);
3. the whole config is validated (:mod:`trainkit.config.validate`);
4. the model is built after seeding, so its initial weights follow ``seed``.
"""
import copy
from typing import Any, Dict, List, Optional, Sequence, Union

from trainkit.config.load import import_custom_modules
from trainkit.config.validate import validate_config
from trainkit.errors import ConfigError
from trainkit.hooks.hook import Hook, priority_value
from trainkit.registry import HOOKS, MODELS, lookup
from trainkit.utils.rng import seed_everything

DEFAULT_HOOKS = {
    'nan_guard': dict(type='NanGuardHook'),
    'logger': dict(type='LoggerHook'),
    'checkpoint': dict(type='CheckpointHook'),
}


def to_plain_dict(cfg) -> Dict[str, Any]:
    """A deep plain-dict copy of an ``mmengine.Config`` / ``ConfigDict`` / dict."""
    if hasattr(cfg, 'to_dict'):
        return cfg.to_dict()
    return copy.deepcopy(dict(cfg))


def prepare_config(cfg) -> Dict[str, Any]:
    """Steps 1–3 above; returns the canonical plain-dict config."""
    from trainkit.config.reference.expand import expand_reference_keys
    plain = to_plain_dict(cfg)
    import_custom_modules(plain)
    plain = expand_reference_keys(plain)
    validate_config(plain)
    return plain


def build_hooks(hooks: Optional[Sequence[Union[Hook, dict]]] = None) -> List[Hook]:
    """Build hooks (objects or dicts), name them and sort them by priority.

    ``hooks=None`` builds ``DEFAULT_HOOKS``.
    """
    if hooks is None:
        hooks = list_hooks({})
    built: List[Hook] = []
    for i, spec in enumerate(hooks):
        hook = _build_hook(spec, f'hooks.{i}') if isinstance(spec, dict) else spec
        if not isinstance(hook, Hook):
            raise ConfigError(f'hooks.{i}: expected a Hook or a hook dict, got {hook!r}')
        built.append(hook)
    _name_uniquely(built)
    return sorted(built, key=lambda h: priority_value(h.priority))


def _build_hook(spec: dict, where: str) -> Hook:
    kwargs = dict(spec)
    name = kwargs.pop('_name', None)
    priority = kwargs.pop('priority', None)
    cls = lookup(HOOKS, kwargs.pop('type', None), f'{where}.type')
    try:
        hook = cls(**kwargs)
    except TypeError as err:
        raise ConfigError(f'{name or where}: {cls.__name__}: {err}') from err
    if priority is not None:
        priority_value(priority)
        hook.priority = priority
    if name is not None:
        hook.name = name
    return hook


def _name_uniquely(hooks: List[Hook]) -> None:
    seen = set()
    for hook in hooks:
        base = hook.name or type(hook).__name__
        name, n = base, 1
        while name in seen:
            n += 1
            name = f'{base}_{n}'
        hook.name = name
        seen.add(name)


def runner_kwargs_from_cfg(cfg) -> Dict[str, Any]:
    """Everything ``Runner(...)`` needs, from a config."""
    plain = prepare_config(cfg)
    seed_everything(plain.get('seed'), plain.get('deterministic', False))
    model_cfg = dict(plain['model'])
    model_cls = lookup(MODELS, model_cfg.pop('type'), 'model.type')
    try:
        model = model_cls(**model_cfg)
    except TypeError as err:
        raise ConfigError(f'model: {model_cls.__name__}: {err}') from err
    train_cfg = plain.get('train_cfg') or {}
    hooks = list_hooks(plain)
    # one formatting pass (yapf, ~30 ms): hasattr() would run the property a second time
    text = getattr(cfg, 'pretty_text', None) or repr(plain)
    return dict(
        model=model, train_dataloader=plain['train_dataloader'],
        val_dataloader=plain.get('val_dataloader'), optim_wrapper=plain['optim_wrapper'],
        loss=plain.get('loss'), metrics=plain.get('metrics'),
        param_scheduler=plain.get('param_scheduler'), hooks=hooks,
        max_epochs=train_cfg.get('max_epochs', 1), val_interval=train_cfg.get('val_interval', 1),
        val_begin=train_cfg.get('val_begin', 1), work_dir=plain.get('work_dir') or
        f'work_dirs/{plain.get("run_name", "trainkit")}', run_name=plain.get('run_name',
                                                                            'trainkit'),
        seed=plain.get('seed'), deterministic=plain.get('deterministic', False),
        resume=plain.get('resume', False), ckpt_file=plain.get('ckpt_file'),
        load_strict=plain.get('load_strict', True), load_ema=plain.get('load_ema', True),
        finetune_modules=plain.get('finetune_modules'), auto_scale_lr=plain.get('auto_scale_lr'),
        device=plain.get('device'), ddp_cfg=plain.get('ddp_cfg'), cfg_text=text)


def list_hooks(plain: Dict[str, Any]) -> List[dict]:
    """``DEFAULT_HOOKS`` updated by ``default_hooks`` (a ``None`` value removes one), then
    ``custom_hooks``."""
    merged = dict(DEFAULT_HOOKS)
    merged.update(plain.get('default_hooks') or {})
    hooks = [dict(cfg, _name=name) for name, cfg in merged.items() if cfg is not None]
    return hooks + [dict(cfg) for cfg in plain.get('custom_hooks') or []]
