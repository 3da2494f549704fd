"""The layering of docs/architecture.md, checked on the source: a module imports only from its
own layer or lower ones, and never imports trainkit inside a function (a hidden import is how a
cycle between layers is usually dodged)."""
import ast
import os

import pytest

from tests.support.configs import ROOT

# lowest first; a package prefix maps to its layer (the longest prefix wins)
LAYERS = [
    ('base', ('trainkit', 'trainkit.errors', 'trainkit.registry', 'trainkit.utils')),
    ('components', ('trainkit.optim', 'trainkit.losses', 'trainkit.metrics', 'trainkit.datasets',
                    'trainkit.models', 'trainkit.checkpointing')),
    ('hooks', ('trainkit.hooks',)),
    ('config', ('trainkit.config',)),
    ('engine', ('trainkit.engine',)),
    ('after and around training', ('trainkit.interface', 'trainkit.tuning')),
    ('command line', ('trainkit.cli',)),
]


def layer_of(module: str) -> int:
    best, level = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + '.')) and len(prefix) > best:
                best, level = len(prefix), i
    assert level is not None, f'{module} belongs to no layer of docs/architecture.md'
    return level


def modules():
    for folder, _, files in os.walk(os.path.join(ROOT, 'trainkit')):
        for name in files:
            if name.endswith('.py'):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, '.')
                yield rel[:-len('.__init__')] if rel.endswith('.__init__') else rel, path


def trainkit_imports(tree):
    """(imported module, line, inside a function?) for every import of trainkit.*"""
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                names = [child.module] + [f'{child.module}.{a.name}' for a in child.names]
                target = next((n for n in reversed(names) if _is_module(n)), child.module)
                found.append((target, child.lineno, in_function))
            elif isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, in_function) for a in child.names)
            visit(child, inner)
    visit(tree, False)
    return [f for f in found if f[0] == 'trainkit' or f[0].startswith('trainkit.')]


def _is_module(name: str) -> bool:
    path = os.path.join(ROOT, *name.split('.'))
    return os.path.isfile(path + '.py') or os.path.isdir(path)


@pytest.mark.parametrize('module,path', sorted(modules()))
def test_imports_stay_in_their_layer_and_at_the_top(module, path):
    tree = ast.parse(open(path, encoding='utf-8').read())
    own = layer_of(module)
    for target, line, in_function in trainkit_imports(tree):
        if module == 'trainkit' and in_function:
            continue  # the package's lazy attribute loader (__getattr__) is its purpose
        assert not in_function, f'{path}:{line}: import of {target} inside a function'
        assert layer_of(target) <= own, (
            f'{path}:{line}: {module} ({LAYERS[own][0]}) imports {target} '
            f'({LAYERS[layer_of(target)][0]}), a higher layer')


def test_the_check_sees_a_violation():
    tree = ast.parse('def f():\n    from trainkit.engine.runner import Runner\n')
    assert trainkit_imports(tree) == [('trainkit.engine.runner', 2, True)]
    assert layer_of('trainkit.engine.runner') > layer_of('trainkit.hooks.logger')
