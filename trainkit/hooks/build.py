"""Build the run's hooks from configs: the default hooks, ``default_hooks`` and ``custom_hooks``.

::

    hooks = build_hooks(list_hooks(cfg))    # named, sorted by priority
    build_hooks(None)                       # DEFAULT_HOOKS only

``default_hooks`` updates ``DEFAULT_HOOKS`` by name (a ``None`` value removes one); each
default hook's key becomes its ``name`` (the key of its state in checkpoints).
"""
from typing import Any, Dict, List, Optional, Sequence, Union

from trainkit.errors import ConfigError
from trainkit.hooks.hook import Hook, priority_value
from trainkit.hooks.tracking import backends_from_config
from trainkit.registry import HOOKS, build

DEFAULT_HOOKS = {
    'nan_guard': dict(type='NanGuardHook'),
    'logger': dict(type='LoggerHook'),
    'checkpoint': dict(type='CheckpointHook'),
}


def list_hooks(plain: Dict[str, Any]) -> List[dict]:
    """``DEFAULT_HOOKS`` updated by ``default_hooks`` (a ``None`` value removes one), then
    ``custom_hooks``."""
    merged = dict(DEFAULT_HOOKS)
    merged.update(plain.get('default_hooks') or {})
    vis_backends = backends_from_config(plain)  # MMEngine's vis_backends / visualizer keys
    if vis_backends is not None:
        merged['tracking'] = dict(merged.get('tracking') or dict(type='TrackingHook'),
                                  vis_backends=vis_backends)
    hooks = [dict(cfg, _name=name) for name, cfg in merged.items() if cfg is not None]
    return hooks + [dict(cfg) for cfg in plain.get('custom_hooks') or []]


def build_hooks(hooks: Optional[Sequence[Union[Hook, dict]]] = None) -> List[Hook]:
    """Build hooks (objects or dicts), name them uniquely and sort them by priority.

    ``hooks=None`` builds ``DEFAULT_HOOKS``.
    """
    if hooks is None:
        hooks = list_hooks({})
    built: List[Hook] = []
    for i, spec in enumerate(hooks):
        hook = build_hook(spec, f'hooks.{i}') if isinstance(spec, dict) else spec
        if not isinstance(hook, Hook):
            raise ConfigError(f'hooks.{i}: expected a Hook or a hook dict, got {hook!r}')
        built.append(hook)
    _name_uniquely(built)
    return sorted(built, key=lambda h: priority_value(h.priority))


def build_hook(spec: dict, where: str) -> Hook:
    """One hook from ``dict(type=..., priority=..., _name=..., **kwargs)``."""
    kwargs = dict(spec)
    name = kwargs.pop('_name', None)
    priority = kwargs.pop('priority', None)
    hook = build(HOOKS, kwargs, name or where)
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
