"""Components of OpenMMLab packages, resolved through MMEngine's registry scopes.

A schedule or runtime from an OpenMMLab project may name a component of that project::

    default_scope = 'mmpretrain'
    optim_wrapper = dict(optimizer=dict(type='LARS', lr=4.8, weight_decay=1e-6))
    # or, whatever default_scope says:
    optim_wrapper = dict(optimizer=dict(type='mmselfsup.LARS', lr=4.8))

A name trainkit (or MMEngine) knows is used as it is. Otherwise, when the package of its scope
(``scope.Name``, else ``default_scope``, else the package the name is known from) is
installed, the class is taken from that package's registry; when it is not installed, the
error names the package to install. Optimizers, optimizer wrappers and their constructors and
parameter schedulers are resolved this way (hooks too, which are then refused by the hook
check: an MMEngine hook cannot run in trainkit's loop).
"""
import importlib
import importlib.util
from typing import Any, Dict, Iterator, Optional, Tuple

from trainkit.config.mmengine.packages import known_scope, pip_name
from trainkit.config.mmengine.report import CarryOver
from trainkit.errors import ConfigError
from trainkit.registry import (
    HOOKS,
    OPTIM_WRAPPER_CONSTRUCTORS,
    OPTIM_WRAPPERS,
    OPTIMIZERS,
    PARAM_SCHEDULERS,
    lookup,
    registered_names,
)
from trainkit.utils.suggest import close_matches

OWN_SCOPES = (None, 'trainkit', 'mmengine')


def resolve_scopes(cfg: Dict[str, Any], report: CarryOver) -> None:
    """Replace each ``type`` that needs an OpenMMLab package by the class from it, in place;
    a missing package is a problem naming it."""
    default_scope = cfg.get('default_scope')
    for holder, key, registry, where in _components(cfg):
        found = resolve(holder[key], registry, where, default_scope, report)
        if found is not None:
            holder[key] = found


def _components(cfg: Dict[str, Any]) -> Iterator[Tuple[dict, str, Any, str]]:
    """(dict, key, registry, config path) of each component type the carry-over resolves."""
    wrapper = cfg.get('optim_wrapper')
    if isinstance(wrapper, dict):
        if 'type' in wrapper:
            yield wrapper, 'type', OPTIM_WRAPPERS, 'optim_wrapper.type'
        if isinstance(wrapper.get('optimizer'), dict) and 'type' in wrapper['optimizer']:
            yield wrapper['optimizer'], 'type', OPTIMIZERS, 'optim_wrapper.optimizer.type'
        constructor = wrapper.get('constructor')
        if isinstance(constructor, str):
            yield wrapper, 'constructor', OPTIM_WRAPPER_CONSTRUCTORS, 'optim_wrapper.constructor'
        elif isinstance(constructor, dict) and 'type' in constructor:
            yield (constructor, 'type', OPTIM_WRAPPER_CONSTRUCTORS,
                   'optim_wrapper.constructor.type')
    schedulers = cfg.get('param_scheduler')
    entries = ([('param_scheduler', schedulers)] if isinstance(schedulers, dict) else
               [(f'param_scheduler.{i}', s) for i, s in enumerate(schedulers)]
               if isinstance(schedulers, (list, tuple)) else [])
    for where, entry in entries:
        if isinstance(entry, dict) and 'type' in entry:
            yield entry, 'type', PARAM_SCHEDULERS, f'{where}.type'
    defaults = cfg.get('default_hooks')
    if isinstance(defaults, dict):
        for name, hook in defaults.items():
            if isinstance(hook, dict) and 'type' in hook:
                yield hook, 'type', HOOKS, f'default_hooks.{name}.type'
    custom = cfg.get('custom_hooks')
    if isinstance(custom, (list, tuple)):
        for i, hook in enumerate(custom):
            if isinstance(hook, dict) and 'type' in hook:
                yield hook, 'type', HOOKS, f'custom_hooks.{i}.type'


def resolve(type_name: Any, registry, where: str, default_scope: Optional[str],
            report: CarryOver) -> Optional[type]:
    """The class of ``type_name`` from an OpenMMLab package, or None (trainkit's own name, a
    misspelling for validation to report, or a problem added to ``report``)."""
    if not isinstance(type_name, str):
        return None
    try:
        lookup(registry, type_name, where)
        return None  # trainkit or MMEngine has it
    except ConfigError:
        pass
    scope, name, explicit = _split(type_name, default_scope)
    if scope in OWN_SCOPES:
        return None
    if not explicit and close_matches(name, registered_names(registry)):
        return None  # more likely a misspelt trainkit name: validation suggests it
    if importlib.util.find_spec(scope) is None:
        report.problem(f'{where}: {type_name!r} is a component of the OpenMMLab package '
                       f'{scope!r}, which is not installed; pip install {pip_name(scope)} '
                       f'(trainkit then takes it from that package\'s registry)')
        return None
    try:
        found = _from_package(scope, name, registry)
    except ImportError as err:
        report.problem(f'{where}: {type_name!r} needs the package {scope!r}, which is installed '
                       f'but does not import: {err}')
        return None
    if found is None:
        report.problem(f'{where}: {type_name!r} is not in the {registry.name} registry of the '
                       f'installed package {scope!r}')
    return found


def _split(type_name: str, default_scope: Optional[str]) -> Tuple[Optional[str], str, bool]:
    """(scope, name, whether the scope is certain: written in the name, or the name is a
    known component of that package)."""
    if '.' in type_name:
        scope, name = type_name.split('.', 1)
        if scope.isidentifier() and '.' not in name:
            return scope, name, True
    if known_scope(type_name) is not None:  # named after a component of that package
        return known_scope(type_name), type_name, True
    if default_scope not in OWN_SCOPES:
        return default_scope, type_name, False
    return None, type_name, False


def _from_package(scope: str, name: str, registry) -> Optional[type]:
    """Look ``name`` up in ``scope``'s child of MMEngine's root registry of this kind."""
    if importlib.util.find_spec(f'{scope}.registry') is not None:
        importlib.import_module(f'{scope}.registry')  # creates its child registries
    else:
        importlib.import_module(scope)
    root = registry
    while root.parent is not None:
        root = root.parent
    try:
        return root.get(f'{scope}.{name}')
    except (KeyError, ImportError):
        return None
