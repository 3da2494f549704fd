"""Load a config file and apply command-line overrides.

Configs are read by :class:`mmengine.Config` (``.py``, ``.yaml``, ``.json``; ``_base_`` lists,
``_delete_=True``, ``_base_.x`` references).  Python configs are *executed*, exactly as in
MMEngine: only load config files you trust.

What this module adds:

* errors that name the file: a syntax error gives the file and line, a missing ``_base_``
  names the file that referenced it, a failing config names itself;
* ``--cfg-options`` parsing (:func:`parse_cfg_options`) that follows mmengine's ``DictAction``
  syntax (``a.b=1``, ``lst=[1,2]``, ``tup=(1,2)``, ``a=x,y``, ``param_scheduler.0.end=5``) and
  fixes its failures: a scalar inside a list (``model.channels.1=64``), a value that must stay
  a string (``run_name="'007'"``) and values containing spaces (``work_dir=my runs/a``).

Example::

    cfg = load_config('configs/spice.py', ['optim_wrapper.optimizer.lr=1e-3'])
"""
import ast
import importlib
import os
import re
import traceback
from typing import Any, List, Sequence, Tuple

from trainkit.errors import ConfigError, TrainkitError

CONFIG_SUFFIXES = ('.py', '.yaml', '.yml', '.json')


# ----------------------------------------------------------------------------- file checks
def _read_text(path: str) -> str:
    """The file as UTF-8 text; a file in another encoding names the line and the byte."""
    with open(path, 'rb') as f:
        data = f.read()
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b'\n') + 1
        column = err.start - (data.rfind(b'\n', 0, err.start) + 1) + 1
        raise ConfigError(f'{path}, line {line}: the file is not UTF-8 text (byte '
                          f'0x{data[err.start]:02x} at column {column}, perhaps Latin-1 or '
                          f'Windows-1252); save it as UTF-8, e.g. iconv -f latin1 -t utf-8 '
                          f'{os.path.basename(path)} > utf8-{os.path.basename(path)}') from None


def _yaml_loader():
    """A SafeLoader that refuses a key given twice in one mapping (YAML would keep the last
    silently, so one of the two values would be lost)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = {}
            for key_node, _ in node.value:  # a key merged in with `<<: *anchor` may be redefined
                if key_node.tag == 'tag:yaml.org,2002:merge' or \
                        not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if key in seen:
                    lines = f'on line {line}' if seen[key] == line else \
                        f'on lines {seen[key]} and {line}'
                    raise ConfigError(f'{self.name}, line {line}: key {key!r} is given twice in '
                                      f'one mapping ({lines}); YAML keeps only the last, so the '
                                      f'first value would be lost: remove one of them')
                seen[key] = line
            return super().construct_mapping(node, deep)

    return UniqueKeyLoader


def _read_base_refs(path: str) -> List[Tuple[str, int]]:
    """Return the ``_base_`` entries of ``path`` with their line numbers (0 if unknown)."""
    source = _read_text(path)
    if path.endswith('.py'):
        try:
            tree = ast.parse(source, filename=path)
        except SyntaxError as err:
            raise ConfigError(f'{path}, line {err.lineno}: syntax error: {err.msg}\n'
                              f'    {(err.text or "").rstrip()}') from None
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == '_base_' for t in node.targets):
                try:
                    value = ast.literal_eval(node.value)
                except ValueError:
                    return []
                refs = [value] if isinstance(value, str) else list(value)
                return [(r, node.lineno) for r in refs]
        return []
    import yaml
    try:
        loader = _yaml_loader()(source)
        loader.name = path
        try:
            data = loader.get_single_data() or {}
        finally:
            loader.dispose()
    except yaml.YAMLError as err:
        mark = getattr(err, 'problem_mark', None)
        where = f', line {mark.line + 1}' if mark is not None else ''
        raise ConfigError(f'{path}{where}: cannot parse: {getattr(err, "problem", err)}') from None
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: the top level must be a mapping of keys to values, got '
                          f'{type(data).__name__}')
    refs = data.get('_base_', [])
    return [(r, 0) for r in ([refs] if isinstance(refs, str) else refs)]


def check_config_tree(path: str, _seen=None) -> None:
    """Check ``path`` and its ``_base_`` files exist and parse, naming the culprit if not."""
    _seen = set() if _seen is None else _seen
    path = os.path.abspath(path)
    if path in _seen:
        raise ConfigError(f'{path}: _base_ files include each other in a cycle')
    _seen.add(path)
    for ref, line in _read_base_refs(path):
        if not isinstance(ref, str) or not ref.endswith(CONFIG_SUFFIXES):
            raise ConfigError(f'{path}, line {line}: _base_ entry {ref!r} must be a path ending '
                              f'in one of {", ".join(CONFIG_SUFFIXES)}')
        base = os.path.normpath(os.path.join(os.path.dirname(path), ref))
        if not os.path.isfile(base):
            raise ConfigError(f'{path}, line {line}: _base_ file {ref!r} not found (looked for '
                              f'{base})')
        check_config_tree(base, _seen)


# --------------------------------------------------------------------------------- loading
def load_config(path: str, cfg_options: Sequence[str] = ()):
    """Load ``path`` with mmengine, apply ``cfg_options`` and return the ``mmengine.Config``.

    Raises:
        ConfigError: the file or one of its bases is missing, does not parse, or fails to run;
            or an override is malformed.
    """
    from mmengine.config import Config
    if not os.path.isfile(path):
        raise ConfigError(f'config file {path!r} not found')
    if not path.endswith(CONFIG_SUFFIXES):
        raise ConfigError(f'config file {path!r}: expected a file ending in '
                          f'{", ".join(CONFIG_SUFFIXES)}')
    check_config_tree(path)
    try:
        cfg = Config.fromfile(path, import_custom_modules=False)
    except ConfigError:
        raise
    except Exception as err:  # the config's own code failed: name the file
        raise ConfigError(f'{path}: the config could not be loaded: '
                          f'{type(err).__name__}: {err}') from err
    if path.endswith(('.yaml', '.yml')):
        _yaml_numbers(cfg._cfg_dict)
    apply_cfg_options(cfg, parse_cfg_options(cfg_options))
    return cfg


_YAML_FLOAT = re.compile(r'^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$')


def _yaml_numbers(node) -> None:
    """YAML 1.1 reads ``5e-4`` (no dot) as a string; make such values floats."""
    items = node.items() if isinstance(node, dict) else enumerate(node) \
        if isinstance(node, list) else ()
    for key, value in list(items):
        if isinstance(value, str) and _YAML_FLOAT.match(value):
            node[key] = float(value)
        elif isinstance(value, (dict, list)):
            _yaml_numbers(value)


def import_custom_modules(cfg, extra: Sequence[str] = ()) -> List[str]:
    """Import ``cfg.custom_imports.imports`` (MMEngine convention) plus ``extra`` modules.

    Modules are where users register their own components with a decorator, so this runs
    before any name is looked up.
    """
    spec = cfg.get('custom_imports') or {}
    if not isinstance(spec, dict):
        raise ConfigError(f'custom_imports: expected dict(imports=[...]), got {spec!r}')
    names = spec.get('imports', [])
    names = [names] if isinstance(names, str) else list(names)
    names += list(extra)
    allow_failed = spec.get('allow_failed_imports', False)
    for name in names:
        try:
            importlib.import_module(name)
        except TrainkitError:  # e.g. a registry clash: its message names the modules
            raise
        except ImportError as err:
            if allow_failed:
                continue
            missing = getattr(err, 'name', None)
            if missing and missing != name and not name.startswith(missing + '.'):
                raise ConfigError(f'custom_imports: {name!r} imports {missing!r}, which is not '
                                  f'installed ({_where_raised(err)}); pip install it, or fix '
                                  f'that import') from err
            raise ConfigError(f'custom_imports: cannot import {name!r}: {err}. Is the module on '
                              f'PYTHONPATH (run from the directory that holds it, or pip '
                              f'install its package)?') from err
        except Exception as err:  # noqa: BLE001 - the user's module failed while importing
            raise ConfigError(f'custom_imports: importing {name!r} failed at '
                              f'{_where_raised(err)}: {type(err).__name__}: {err} (--debug shows '
                              f'the traceback)') from err
    return names


def _where_raised(err: BaseException) -> str:
    """``file, line N: code`` of the innermost frame outside Python's import machinery."""
    if isinstance(err, SyntaxError):
        return f'{err.filename}, line {err.lineno}: {(err.text or "").strip()}'
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if not f.filename.startswith('<frozen') and 'importlib' not in f.filename]
    if not frames:
        return 'import time'
    frame = frames[-1]
    return f'{frame.filename}, line {frame.lineno}' + (f': {frame.line}' if frame.line else '')


# ------------------------------------------------------------------------ --cfg-options
_WORDS = {'true': True, 'false': False, 'none': None, 'null': None}


def _split_top_level(text: str) -> List[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in '([{':
            depth += 1
        elif ch in ')]}':
            depth -= 1
        elif ch == ',' and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def parse_value(text: str) -> Any:
    """Parse one override value.

    Python literals are taken as such (``1e-3``, ``'007'``, ``[1, 2]``, ``(1, 2)``,
    ``{'a': 1}``, ``True``); ``true/false/none/null`` in any case; brackets with bare words
    (``[a,b]``) and top-level commas (``a,b``) make lists as in mmengine's ``DictAction``;
    anything else is a string, spaces and leading zeros kept (``007`` stays ``'007'``).
    """
    stripped = text.strip()
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    if stripped.lower() in _WORDS:
        return _WORDS[stripped.lower()]
    for left, right, kind in (('[', ']', list), ('(', ')', tuple)):
        if stripped.startswith(left) and stripped.endswith(right):
            inner = stripped[1:-1].strip()
            return kind(parse_value(p) for p in _split_top_level(inner)) if inner else kind()
    if ',' in stripped and len(_split_top_level(stripped)) > 1:
        return [parse_value(p) for p in _split_top_level(stripped)]
    return text


def parse_cfg_options(options: Sequence[str]) -> List[Tuple[str, Any]]:
    """Turn ``['a.b=1', 'c=x y']`` into ``[('a.b', 1), ('c', 'x y')]``.

    A shell splits ``k=a b`` into two words; a word without ``=`` is joined to the value
    before it, so ``--cfg-options work_dir=my runs`` keeps the space.
    """
    pairs: List[List[str]] = []
    for word in options:
        key, sep, value = word.partition('=')
        if sep and key and ' ' not in key.strip() and not key.strip().startswith(('"', "'")):
            pairs.append([key.strip(), value])
        elif pairs:
            pairs[-1][1] += ' ' + word
        else:
            raise ConfigError(f'--cfg-options: {word!r} is not of the form key=value '
                              f'(e.g. optim_wrapper.optimizer.lr=1e-3)')
    for key, value in pairs:
        _check_value_syntax(key, value)
    return [(key, parse_value(value)) for key, value in pairs]


_OPEN, _CLOSE = '([{', ')]}'


def _unbalanced(text: str) -> str:
    """'' if the brackets outside quotes pair up, else what is wrong."""
    stack, quote = [], None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in '\'"':
            quote = ch
        elif ch in _OPEN:
            stack.append(ch)
        elif ch in _CLOSE:
            if not stack or _OPEN.index(stack[-1]) != _CLOSE.index(ch):
                return f'an unmatched {ch!r}'
            stack.pop()
    return f'{len(stack)} unclosed {stack[-1]!r}' if stack else ''


class _CallsToLiterals(ast.NodeTransformer):
    """``dict(a=1)`` -> ``{'a': 1}``, ``list((1, 2))``/``tuple([1])`` -> the literal."""

    def visit_Call(self, node):
        self.generic_visit(node)
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name == 'dict' and not node.args:
            return ast.Dict(keys=[ast.Constant(k.arg) for k in node.keywords],
                            values=[k.value for k in node.keywords])
        if name in ('list', 'tuple') and len(node.args) == 1 and not node.keywords and \
                isinstance(node.args[0], (ast.List, ast.Tuple)):
            kind = ast.List if name == 'list' else ast.Tuple
            return kind(elts=node.args[0].elts, ctx=ast.Load())
        return node


def _check_value_syntax(key: str, text: str) -> None:
    """Call syntax (``dict(type='MLP')``) and unbalanced brackets get a message saying how
    to write the value; everything else is left to :func:`parse_value`."""
    stripped = text.strip()
    try:
        tree = ast.parse(stripped, mode='eval')
    except SyntaxError:
        tree = None
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and (
        node.keywords or isinstance(node.func, ast.Name) and
        node.func.id in ('dict', 'list', 'tuple', 'set'))] if tree is not None else []
    if calls:
        literal = ast.unparse(ast.fix_missing_locations(_CallsToLiterals().visit(tree)))
        try:
            ast.literal_eval(literal)
            example = f'{key}="{literal}"'
        except (ValueError, SyntaxError):
            example = f'{key}="{{\'type\': \'MLP\', \'in_features\': 4}}"'
        raise ConfigError(f'--cfg-options {key}: {stripped!r} is Python call syntax, which '
                          f'--cfg-options does not run; write the value as a literal, e.g. '
                          f'{example} (in quotes for the shell)')
    problem = _unbalanced(stripped)
    if problem:
        raise ConfigError(f'--cfg-options {key}: the brackets of {stripped!r} do not pair up '
                          f'({problem}); write the whole value in quotes for the shell, e.g. '
                          f'"{key}=[1, 2]" or "{key}={{\'a\': 1}}"; for text with a bracket, '
                          f'quote it as a string: "{key}=\'{stripped}\'"')


def _child(container, part: str, path: str, create: bool):
    if isinstance(container, (list, tuple)):
        index = _index(container, part, path)
        return container[index]
    if isinstance(container, dict):
        if part not in container:
            if not create:
                raise KeyError(part)
            from mmengine.config import ConfigDict
            container[part] = ConfigDict()
        return container[part]
    raise ConfigError(f'--cfg-options {path}: cannot go into {part!r}: the value before it is '
                      f'{container!r} ({type(container).__name__}), not a dict or list')


def _index(seq, part: str, path: str) -> int:
    try:
        index = int(part)
    except ValueError:
        raise ConfigError(f'--cfg-options {path}: {part!r} indexes a list of {len(seq)} items; '
                          f'use a number 0..{len(seq) - 1}') from None
    if not -len(seq) <= index < len(seq):
        raise ConfigError(f'--cfg-options {path}: index {index} is out of range for a list of '
                          f'{len(seq)} items')
    return index


def _merge(old, new):
    if isinstance(old, dict) and isinstance(new, dict) and not new.get('_delete_', False):
        for key, value in new.items():
            old[key] = _merge(old[key], value) if key in old else value
        return old
    if isinstance(new, dict):
        new = {k: v for k, v in new.items() if k != '_delete_'}
    return new


def set_by_path(cfg, key: str, value: Any) -> None:
    """Set ``cfg[a][b][0]...`` for ``key='a.b.0'``; dicts are created, lists indexed.

    Tuples on the way are replaced by modified copies, dict values are merged into an existing
    dict (mmengine semantics; ``_delete_=True`` replaces instead).
    """
    parts = key.split('.')
    chain = [cfg]
    for part in parts[:-1]:
        chain.append(_child(chain[-1], part, key, create=True))
    _assign(chain, parts, key, value)


def _assign(chain, parts, key, value):
    container, last = chain[-1], parts[-1]
    if isinstance(container, list):
        index = _index(container, last, key)
        container[index] = _merge(container[index], value)
    elif isinstance(container, tuple):
        items = list(container)
        items[_index(items, last, key)] = value
        _assign(chain[:-1], parts[:-1], key, tuple(items))
    elif isinstance(container, dict):
        container[last] = _merge(container[last], value) if last in container else value
    else:
        raise ConfigError(f'--cfg-options {key}: cannot set {last!r} inside {container!r} '
                          f'({type(container).__name__})')


def apply_cfg_options(cfg, options: Sequence[Tuple[str, Any]]) -> None:
    """Apply parsed overrides to an ``mmengine.Config`` (or a plain dict) in place."""
    from mmengine.config import ConfigDict
    for key, value in options:
        if isinstance(value, dict):
            value = ConfigDict(value)
        if hasattr(cfg, '_cfg_dict'):
            set_by_path(cfg._cfg_dict, key, value)
        else:
            set_by_path(cfg, key, value)
