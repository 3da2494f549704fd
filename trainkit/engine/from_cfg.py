"""From a config to the Runner's arguments: normalize, validate, build the model and hooks.

The steps, in order (each raises :class:`~trainkit.errors.ConfigError` on bad input, before
anything heavy is built):

1. ``custom_imports`` are imported, so user components are registered;
2. the reference-style ``trainer`` section and shorthands (``save_dir``, ``grad_clip``,
   ``num_workers``, ``max_epochs``) are expanded into the canonical keys
   (:mod:`trainkit.config.reference.expand`);
3. the whole config is validated (:mod:`trainkit.config.validate`);
4. the model is built after seeding, so its initial weights follow ``seed``.

The hooks are built by the Runner from :func:`trainkit.hooks.build.list_hooks`.
"""
import copy
import os
import sys
from typing import Any, Dict, Sequence

from trainkit.config.load import import_custom_modules
from trainkit.config.mmengine.env import apply_env_cfg
from trainkit.config.reference.expand import expand_reference_keys
from trainkit.config.validate import validate_config
from trainkit.hooks.build import list_hooks
from trainkit.registry import MODELS, build
from trainkit.utils.rng import seed_everything

# config sections that are not Runner arguments of the same name
TRAIN_CFG_ARGS = ('max_epochs', 'val_interval', 'val_begin', 'max_iters')


def to_plain_dict(cfg) -> Dict[str, Any]:
    """A deep plain-dict copy of an ``mmengine.Config`` / ``ConfigDict`` / dict."""
    if hasattr(cfg, 'to_dict'):
        return cfg.to_dict()
    return copy.deepcopy(dict(cfg))


def prepare_config(cfg, notices: bool = True) -> Dict[str, Any]:
    """Steps 1–3 above; returns the canonical plain-dict config. ``notices``: print the
    one-line notices of MMEngine keys accepted and not used (to stderr)."""
    plain = to_plain_dict(cfg)
    import_custom_modules(plain)
    plain = expand_reference_keys(plain)
    lines = validate_config(plain)
    if notices and os.environ.get('RANK', '0') == '0':  # under torchrun: the first process only
        for line in lines:
            print(f'notice: {line}', file=sys.stderr)
    return plain


def runner_kwargs_from_cfg(cfg, runner_args: Sequence[str]) -> Dict[str, Any]:
    """The ``Runner(...)`` arguments a config gives; ``runner_args`` are the Runner's argument
    names. A top-level key named like an argument passes through as it is; what the config
    does not set keeps the Runner's own default (the defaults are written only there)."""
    plain = prepare_config(cfg)
    seed_everything(plain.get('seed'), plain.get('deterministic', False))
    apply_env_cfg(plain.get('env_cfg'), plain.get('deterministic', False))
    kwargs = {key: plain[key] for key in runner_args if key in plain and key != 'model'}
    kwargs['model'] = build(MODELS, plain['model'], 'model')
    train_cfg = plain.get('train_cfg') or {}
    kwargs.update({key: train_cfg[key] for key in TRAIN_CFG_ARGS if key in train_cfg})
    kwargs['hooks'] = list_hooks(plain)
    # one formatting pass (yapf, ~30 ms): hasattr() would run the property a second time
    kwargs['cfg_text'] = getattr(cfg, 'pretty_text', None) or repr(plain)
    return kwargs
