"""What a component's constructor accepts: argument names, expected types, tuple coercion.

Used by config validation (unknown arguments, wrong types) and by the builders (a YAML list
given where a tuple is expected, e.g. ``betas: [0.9, 0.999]``, becomes a tuple).
"""
import inspect
import typing
from typing import Any, Dict, List, Optional, Tuple

_EMPTY = inspect.Parameter.empty


class Signature:
    """The keyword arguments of ``cls(...)`` (or of a function), read once.

    Attributes:
        params: ``{name: inspect.Parameter}`` of the named arguments.
        takes_kwargs: True when the callable has ``**kwargs`` (any name is accepted).
    """

    def __init__(self, target: Any):
        self.params, self.takes_kwargs, self.hints = {}, True, {}
        for fn in _constructors(target):
            try:
                params = list(inspect.signature(fn).parameters.values())
            except (TypeError, ValueError):
                return
            if inspect.isclass(target) and params and params[0].name == 'self':
                params = params[1:]
            for p in params:
                if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                    self.params.setdefault(p.name, p)
            self.hints = {**_hints(fn), **self.hints}
            self.takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params)
            if not _forwards_everything(params):
                return

    def names(self) -> List[str]:
        return list(self.params)

    def accepts(self, name: str) -> bool:
        return self.takes_kwargs or name in self.params

    def required(self, provided: Tuple[str, ...] = ()) -> List[str]:
        """Arguments without a default that the config must give (minus ``provided``)."""
        return [n for n, p in self.params.items() if p.default is _EMPTY and n not in provided]

    def expected_types(self, name: str) -> Optional[Tuple[type, ...]]:
        """Plain types ``name`` may take (None when unknown or unconstrained)."""
        hint = self.hints.get(name)
        if hint is not None:
            return _plain_types(hint)
        param = self.params.get(name)
        if param is None or param.default is _EMPTY or param.default is None:
            return None
        return _default_types(param.default)

    def wants_tuple(self, name: str) -> bool:
        """True when ``name`` is annotated as a tuple or defaults to one."""
        hint = self.hints.get(name)
        if hint is not None:
            return hint is tuple or typing.get_origin(hint) is tuple
        param = self.params.get(name)
        return param is not None and isinstance(param.default, tuple)


def _constructors(target: Any):
    """``__init__`` of ``target`` and, while one only forwards ``*args, **kwargs`` to its
    base (as mmengine's ``LRSchedulerMixin`` does), those of the next classes in the MRO."""
    if not inspect.isclass(target):
        yield target
        return
    for klass in target.__mro__:
        if '__init__' in vars(klass) and klass is not object:
            yield vars(klass)['__init__']
    if target.__init__ is object.__init__:
        yield object.__init__


def _forwards_everything(params) -> bool:
    kinds = {p.kind for p in params}
    return inspect.Parameter.VAR_POSITIONAL in kinds and inspect.Parameter.VAR_KEYWORD in kinds


def _hints(fn) -> Dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: fall back to defaults
        return {}


def _default_types(default: Any) -> Optional[Tuple[type, ...]]:
    if isinstance(default, bool):
        return (bool,)
    if isinstance(default, (int, float)):
        return (int, float)
    if isinstance(default, str):
        return (str,)
    if isinstance(default, tuple):
        return (tuple, list)
    if isinstance(default, list):
        return (list, tuple)
    if isinstance(default, dict):
        return (dict,)
    return None


def _plain_types(hint: Any) -> Optional[Tuple[type, ...]]:
    """``Union[float, Tensor]`` → ``(int, float, Tensor)``; None if any part is unconstrained."""
    origin = typing.get_origin(hint)
    if hint is Any or isinstance(hint, typing.TypeVar):
        return None
    if origin is typing.Union or type(hint).__name__ == 'UnionType':
        result: List[type] = []
        for arg in typing.get_args(hint):
            if arg is type(None):
                result.append(type(None))
                continue
            part = _plain_types(arg)
            if part is None:
                return None
            result.extend(part)
        return tuple(result)
    if origin is typing.Literal:
        return tuple({type(v) for v in typing.get_args(hint)})
    if origin is not None:
        hint = origin
    if not isinstance(hint, type):
        return None
    if hint is float:
        return (int, float)
    if hint in (tuple, list):
        return (tuple, list)
    if hint is dict or getattr(hint, '__name__', '') in ('Mapping', 'MutableMapping'):
        return (dict,)
    if hint.__module__ == 'collections.abc':
        return None
    return (hint,)


def type_mismatch(value: Any, types: Optional[Tuple[type, ...]]) -> bool:
    """True when the config value ``value`` cannot be of ``types``.

    None is always let through (it usually means "use the default"); objects that are not
    plain config values (built in Python) and dicts given where a non-builtin type is expected
    (a nested component) are not judged.
    """
    if types is None or value is None:
        return False
    builtin = tuple(t for t in types if t.__module__ == 'builtins')
    if len(builtin) < len(types) and isinstance(value, dict):
        return False
    if not isinstance(value, (bool, int, float, str, list, tuple, dict)):
        return False
    return bool(builtin) and not isinstance(value, builtin)


def describe_types(types: Tuple[type, ...]) -> str:
    names = []
    for t in types:
        if t is type(None):
            names.append('None')
        elif t is int and float in types:
            continue
        elif t is float:
            names.append('a number')
        else:
            names.append(t.__name__)
    return ' or '.join(dict.fromkeys(names))


def coerce_tuples(target: Any, kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """Return ``kwargs`` with lists turned into tuples where ``target`` expects a tuple."""
    sig = Signature(target)
    return {k: tuple(v) if isinstance(v, list) and sig.wants_tuple(k) else v
            for k, v in kwargs.items()}
