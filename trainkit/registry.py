"""All trainkit registries.

Each registry is a child of the mmengine root registry of the same kind (scope
``'trainkit'``), so every class mmengine knows (all ``torch.optim`` optimizers, mmengine's
parameter schedulers, optimizer wrappers and constructors) is found by its plain name, and a
class you register yourself is found by the name you gave it::

    from trainkit.registry import OPTIMIZERS

    @OPTIMIZERS.register_module()
    class MyOptimizer(torch.optim.Optimizer):
        ...

    optim_wrapper = dict(optimizer=dict(type='MyOptimizer', lr=0.1))

The modules that fill a registry are imported the first time a name is looked up
(``locations``), so ``import trainkit.registry`` does not pay for ``mmengine.optim``.

:func:`lookup` is the one function the rest of trainkit uses to turn a ``type`` into a class:
exact name, then a unique case-insensitive match, then a dotted import path
(``'torch.optim.AdamW'``); otherwise a :class:`~trainkit.errors.ConfigError` that lists the
closest registered names.

Name clashes are errors, not silent replacements: a class of yours registered under a name
that a built-in already has (``@OPTIMIZERS.register_module()`` on a class named ``AdamW``
would replace torch's AdamW for every config) is refused unless you say
``register_module(force=True)``, and then a notice names both; two of your modules
registering one name is an error naming both modules (registering the same class again, e.g.
when its module is reloaded, is fine).
"""
import importlib
import inspect
import sys
from typing import Any, Dict, List, Optional

from mmengine.registry import DATASETS as MM_DATASETS
from mmengine.registry import HOOKS as MM_HOOKS
from mmengine.registry import METRICS as MM_METRICS
from mmengine.registry import MODELS as MM_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MM_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MM_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MM_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MM_PARAM_SCHEDULERS
from mmengine.registry import Registry as MMRegistry

from trainkit.errors import ConfigError
from trainkit.utils.suggest import did_you_mean

_OPTIM = ['mmengine.optim', 'trainkit.optim']
BUILT_IN_PACKAGES = ('trainkit', 'mmengine', 'torch')


def _where(obj) -> str:
    return f'{getattr(obj, "__module__", "?")}.{getattr(obj, "__qualname__", obj)}'


def _is_built_in(obj) -> bool:
    return getattr(obj, '__module__', '').split('.')[0] in BUILT_IN_PACKAGES


def _same(a, b) -> bool:
    """The same class, or the same definition imported again (a reloaded module)."""
    return a is b or _where(a) == _where(b)


class Registry(MMRegistry):
    """mmengine's Registry, with name clashes reported (see the module docstring)."""

    def _register_module(self, module, module_name=None, force: bool = False) -> None:
        names = module_name if module_name is not None else getattr(module, '__name__', None)
        names = [names] if isinstance(names, str) else list(names or [])
        if not _is_built_in(module):
            for reg in _chain(self):  # the built-ins a user's name could shadow, all present
                reg.import_from_location()
            for name in names:
                self._check_clash(module, name, force)
        for name in names:  # registering the same class again replaces it quietly
            existing = self._module_dict.get(name)
            if existing is not None and _same(existing, module):
                del self._module_dict[name]
        super()._register_module(module, module_name, force)

    def _check_clash(self, module, name: str, force: bool) -> None:
        existing = next((reg._module_dict[name] for reg in _chain(self)
                         if name in reg._module_dict), None)
        if existing is None or _same(existing, module):
            return
        if force:
            print(f'notice: {self.name} {name!r} is now {_where(module)}, replacing '
                  f'{_where(existing)} for every config (register_module(force=True))',
                  file=sys.stderr, flush=True)
        elif _is_built_in(existing):
            raise ConfigError(
                f'{self.name} {name!r}: {_where(module)} would shadow the built-in '
                f'{_where(existing)} for every config that names {name!r}; register yours '
                f'under another name (register_module(name=\'My{name}\')), or pass '
                f'register_module(force=True) to replace the built-in on purpose')
        else:
            raise ConfigError(
                f'{self.name} {name!r} is registered twice: by {_where(existing)} and by '
                f'{_where(module)}; rename one of them (register_module(name=...)), or import '
                f'only one of the two modules (custom_imports)')


MODELS = Registry('model', parent=MM_MODELS, scope='trainkit', locations=['trainkit.models'])
# mmengine keeps losses in MODELS; trainkit gives them a registry of their own (a root: a
# parent registry takes one child per scope, and MODELS already has trainkit's models).
LOSSES = Registry('loss', scope='trainkit', locations=['trainkit.losses'])
DATASETS = Registry('dataset', parent=MM_DATASETS, scope='trainkit',
                    locations=['trainkit.datasets'])
METRICS = Registry('metric', parent=MM_METRICS, scope='trainkit', locations=['trainkit.metrics'])
HOOKS = Registry('hook', parent=MM_HOOKS, scope='trainkit', locations=['trainkit.hooks'])
OPTIMIZERS = Registry('optimizer', parent=MM_OPTIMIZERS, scope='trainkit', locations=_OPTIM)
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MM_OPTIM_WRAPPERS, scope='trainkit',
                          locations=_OPTIM)
OPTIM_WRAPPER_CONSTRUCTORS = Registry('optimizer wrapper constructor',
                                      parent=MM_OPTIM_WRAPPER_CONSTRUCTORS, scope='trainkit',
                                      locations=_OPTIM)
PARAM_SCHEDULERS = Registry('parameter scheduler', parent=MM_PARAM_SCHEDULERS,
                            scope='trainkit', locations=_OPTIM)

ALL_REGISTRIES: Dict[str, Registry] = {
    'MODELS': MODELS, 'LOSSES': LOSSES, 'DATASETS': DATASETS, 'METRICS': METRICS,
    'HOOKS': HOOKS, 'OPTIMIZERS': OPTIMIZERS, 'OPTIM_WRAPPERS': OPTIM_WRAPPERS,
    'OPTIM_WRAPPER_CONSTRUCTORS': OPTIM_WRAPPER_CONSTRUCTORS,
    'PARAM_SCHEDULERS': PARAM_SCHEDULERS,
}


def _chain(registry: Registry) -> List[Registry]:
    chain = []
    while registry is not None:
        chain.append(registry)
        registry = registry.parent
    return chain


def registered_names(registry: Registry) -> List[str]:
    """Every name ``registry`` resolves: its own and those of its parents."""
    registry.import_from_location()
    names = set()
    for reg in _chain(registry):
        names.update(reg.module_dict)
    return sorted(names)


def _by_plain_name(registry: Registry, name: str) -> Optional[type]:
    for reg in _chain(registry):
        if name in reg.module_dict:
            return reg.module_dict[name]
    folded = {}
    for reg in _chain(registry):
        for key, obj in reg.module_dict.items():
            folded.setdefault(key.lower(), []).append(obj)
    matches = {id(obj): obj for obj in folded.get(name.lower(), [])}
    return next(iter(matches.values())) if len(matches) == 1 else None


def _by_dotted_path(path: str) -> Optional[type]:
    module_name, _, attr = path.rpartition('.')
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError):
        return None


def lookup(registry: Registry, type_name, where: str = 'type') -> type:
    """Resolve ``type_name`` (a name, a dotted path or a class) to a class.

    Args:
        registry: where to look (parents included).
        type_name: ``'AdamW'``, ``'adamw'``, ``'torch.optim.AdamW'`` or a class.
        where: the config path shown in the error, e.g. ``'optim_wrapper.optimizer.type'``.

    Raises:
        ConfigError: ``"optim_wrapper.optimizer.type: 'AdamX' is not a registered optimizer
        — did you mean 'AdamW', 'Adamax'?"``
    """
    if inspect.isclass(type_name) or callable(type_name) and not isinstance(type_name, str):
        return type_name
    if not isinstance(type_name, str):
        raise ConfigError(f'{where}: expected a registered name or a class, got '
                          f'{type_name!r} ({type(type_name).__name__})')
    registry.import_from_location()
    name = type_name.split('.', 1)[1] if type_name.startswith('trainkit.') and \
        '.' not in type_name[len('trainkit.'):] else type_name
    found = _by_plain_name(registry, name)
    if found is None and '.' in name:
        found = _by_dotted_path(name)
    if found is None:
        hint = did_you_mean(name, registered_names(registry))
        if not hint:
            hint = (f'; register it with @{_constant_name(registry)}.register_module() and '
                    f'import its module through custom_imports')
        raise ConfigError(f'{where}: {type_name!r} is not a registered {registry.name}{hint}')
    return found


def build(registry: Registry, cfg: Dict[str, Any], where: str, default_type=None, **given):
    """Build ``cfg = dict(type=..., **kwargs)`` from ``registry``; a wrong argument becomes a
    ConfigError naming the config path.

    Args:
        registry: where ``type`` is looked up.
        cfg: the component's config; it is not modified.
        where: the config path in messages, e.g. ``'model'`` or ``'default_hooks.ema'``.
        default_type: the type when ``cfg`` has none (else ``type`` is required).
        **given: arguments the caller supplies (e.g. ``params``), not from the config.

    Example::

        model = build(MODELS, dict(type='MLP', in_features=4, hidden=[16]), 'model')
    """
    kwargs = dict(cfg)
    type_name = kwargs.pop('type', default_type)
    if type_name is None:
        raise ConfigError(f'{where}: missing "type" (a registered {registry.name} name)')
    cls = lookup(registry, type_name, f'{where}.type')
    try:
        return cls(**given, **kwargs)
    except TypeError as err:
        raise ConfigError(f'{where}: {getattr(cls, "__name__", cls)}: {err}') from err


def _constant_name(registry: Registry) -> str:
    for const, reg in ALL_REGISTRIES.items():
        if reg is registry:
            return const
    return 'REGISTRY'
