"""The documentation's examples are executed, so a change that breaks the docs fails CI.

Every fenced ``python``/``bash``/``yaml`` block of a page under ``docs/`` carries a marker: an
HTML comment on the line just before it (invisible on GitHub and in mkdocs)::

    <!-- test: run -->             python: executed in order, one namespace per page;
                                   bash: every command runs (``python tools/*.py`` and
                                   ``trainkit-train`` in-process, the rest through bash)
    <!-- test: run small K=V .. --> bash: as ``run``; ``tools/train.py`` and ``tools/test.py``
                                   commands get SMALL
                                   (a 2-epoch run on 7 SPICE molecules) and then K=V added to
                                   their --cfg-options, so the documented command runs in
                                   seconds; ``run K=V`` adds only K=V
    <!-- test: run exit=2 -->      the (last) command must exit with this code
    <!-- test: output -->          text: each line (but ``...``) is a line of the output of
                                   the block run just before
    <!-- test: loss-log -->        text: a loss.log excerpt; its table layout is the layout
                                   of the loss.log a run on this page wrote
    <!-- test: file PATH -->       the block is written to PATH, for the blocks after it
    <!-- test: config [base=F] --> a config snippet, put on top of ``configs/spice.py`` (or
                                   ``configs/F``; ``base=none``: complete as it is), then
                                   loaded, validated, and its model, optimizer wrapper,
                                   schedule and hooks built (no data is read)
    <!-- test: skip REASON -->     not run, with the reason (installs, hours of training)

and tables carry ``<!-- test: signature DOTTED.NAME -->`` (the rows are the arguments of that
class, with their defaults), ``<!-- test: keys DOTTED.NAME -->`` (the rows are that tuple) or
``<!-- test: reference-table -->`` (the reference keys, their defaults, their trainkit keys).

Each page runs in a sandbox copy of the project: ``configs/`` copied, ``tools/``, ``trainkit/``
and ``docs/examples/`` linked, the SPICE demo file shared; nothing is written to the checkout.
"""
import ast
import contextlib
import dataclasses
import glob
import importlib
import inspect
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from typing import Dict, List, Optional

import pytest
import yaml

from tests.support.configs import ROOT

DOCS = os.path.join(ROOT, 'docs')
# pages other engineers write with their own conventions; their marked blocks still run
NOT_MINE = {'performance.md', 'reliability.md', 'reference_style.md'}
CODE_LANGS = {'python', 'py', 'bash', 'sh', 'shell', 'console', 'yaml', 'yml'}
SMALL = ['train_cfg.max_epochs=2', 'default_hooks.logger.log_steps=1'] + [
    f'{loader}.dataset.{key}={value}'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    for key, value in (('max_molecules', 7), ('max_conformations', 8))]
MARKER = re.compile(r'^<!--\s*test:\s*(?P<kind>[\w-]+)\s*(?P<args>.*?)\s*-->\s*$')
FENCE = re.compile(r'^(?P<fence>```+)\s*(?P<lang>[\w+-]*)\s*$')


@dataclasses.dataclass
class Block:
    """A fenced code block or a table, with the marker before it (if any)."""
    page: str
    line: int
    lang: str
    text: str
    kind: Optional[str] = None
    args: str = ''

    @property
    def where(self) -> str:
        return f'{os.path.relpath(self.page, ROOT)}:{self.line}'


def pages() -> List[str]:
    return sorted(glob.glob(os.path.join(DOCS, '**', '*.md'), recursive=True))


def my_pages() -> List[str]:
    return [p for p in pages() if os.path.relpath(p, DOCS) not in NOT_MINE]


def parse(page: str) -> List[Block]:
    """Fenced blocks (lang = the info string) and marked tables (lang = 'table')."""
    lines = open(page, encoding='utf-8').read().splitlines()
    blocks, i, marker = [], 0, None
    while i < len(lines):
        line = lines[i]
        found = MARKER.match(line.strip())
        fence = FENCE.match(line.strip())
        if found:
            marker = (found['kind'], found['args'])
        elif fence:
            end = i + 1
            while end < len(lines) and lines[end].strip() != fence['fence']:
                end += 1
            blocks.append(Block(page, i + 1, fence['lang'].lower(), '\n'.join(lines[i + 1:end]),
                                *(marker or (None, ''))))
            marker, i = None, end
        elif line.startswith('|') and marker:
            end = i
            while end < len(lines) and lines[end].startswith('|'):
                end += 1
            blocks.append(Block(page, i + 1, 'table', '\n'.join(lines[i:end]), *marker))
            marker, i = None, end - 1
        elif line.strip():
            marker = None
        i += 1
    return blocks


# ----------------------------------------------------------------------------- sandboxes
@pytest.fixture(scope='module')
def spice_file(tmp_path_factory):
    from trainkit.datasets.spice_demo import write_demo_spice
    path = tmp_path_factory.mktemp('data') / 'spice.hdf5'
    write_demo_spice(str(path))
    return path


def make_sandbox(path, spice_file) -> str:
    """A project directory shaped like the checkout, for one page."""
    os.makedirs(path)
    shutil.copytree(os.path.join(ROOT, 'configs'), os.path.join(path, 'configs'))
    for name in ('tools', 'trainkit'):
        os.symlink(os.path.join(ROOT, name), os.path.join(path, name))
    os.makedirs(os.path.join(path, 'docs', 'images'))
    os.symlink(os.path.join(DOCS, 'examples'), os.path.join(path, 'docs', 'examples'))
    os.makedirs(os.path.join(path, 'data'))
    os.symlink(spice_file, os.path.join(path, 'data', 'spice-demo.hdf5'))
    return str(path)


@contextlib.contextmanager
def inside(sandbox: str):
    """cwd = the sandbox and the sandbox first on sys.path, as ``python tools/train.py`` run
    from a checkout has its root there."""
    old_cwd, old_path = os.getcwd(), list(sys.path)
    os.chdir(sandbox)
    sys.path.insert(0, sandbox)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path


@contextlib.contextmanager
def captured():
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        yield buffer


# -------------------------------------------------------------------------- commands
def commands(text: str) -> List[List[str]]:
    """Shell commands of a block: ``\\`` continuations joined, comments dropped."""
    joined = re.sub(r'\\\n', ' ', text)
    return [words for words in (shlex.split(line, comments=True) for line in joined.splitlines())
            if words]


def with_options(args: List[str], extra: List[str]) -> List[str]:
    """Add ``extra`` at the end of the ``--cfg-options`` list (argparse keeps only one)."""
    if not extra:
        return args
    if '--cfg-options' not in args:
        return args + ['--cfg-options', *extra]
    start = args.index('--cfg-options') + 1
    end = next((i for i in range(start, len(args)) if args[i].startswith('--')), len(args))
    return args[:end] + extra + args[end:]


def run_command(words: List[str], extra: List[str], sandbox: str):
    """Run one documented command; return (exit code, output)."""
    tools = {'tools/train.py': 'tools.train', 'trainkit-train': 'tools.train',
             'tools/vis_scheduler.py': 'tools.vis_scheduler',
             'trainkit-vis-scheduler': 'tools.vis_scheduler',
             'tools/test.py': 'tools.test', 'trainkit-test': 'tools.test',
             'tools/export.py': 'tools.export', 'trainkit-export': 'tools.export'}
    script = words[1] if words[0] == 'python' and len(words) > 1 else words[0]
    if script in tools:
        args = words[2:] if words[0] == 'python' else words[1:]
        if tools[script] in ('tools.train', 'tools.test'):
            args = with_options(args, extra)
        main = importlib.import_module(tools[script]).main
        with inside(sandbox), captured() as out:
            code = main(args)
        return code, out.getvalue()
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep +
               os.environ.get('PATH', ''))
    done = subprocess.run(shlex.join(words), shell=True, cwd=sandbox, env=env,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


def marker_options(args: str):
    """(extra cfg-options, expected exit code) from a ``run`` marker's arguments."""
    words = args.split()
    code = 0
    extra: List[str] = []
    for word in words:
        if word.startswith('exit='):
            code = int(word[5:])
        elif word == 'small':
            extra = SMALL + extra
        else:
            extra.append(word)
    return extra, code


# ------------------------------------------------------------------------------ blocks
class PageRun:
    """Executes one page's marked blocks in order."""

    def __init__(self, page: str, sandbox: str):
        self.page, self.sandbox = page, sandbox
        self.namespace: Dict = {'__name__': '__doc_example__'}
        self.output = ''

    def run(self, block: Block) -> None:
        handler = {'run': self.run_block, 'output': self.check_output,
                   'loss-log': self.check_loss_log, 'file': self.write_file,
                   'config': self.check_config}.get(block.kind)
        if handler is not None:
            handler(block)

    def run_block(self, block: Block) -> None:
        if block.lang in ('python', 'py'):
            with inside(self.sandbox), captured() as out:
                exec(compile(block.text, block.where, 'exec'), self.namespace)
            self.output = out.getvalue()
            return
        extra, expected = marker_options(block.args)
        outputs = []
        lines = commands(block.text)
        for number, words in enumerate(lines, 1):
            code, output = run_command(words, extra, self.sandbox)
            outputs.append(output)
            wanted = expected if number == len(lines) else 0
            assert code == wanted, (f'{block.where}: {shlex.join(words)} exited with {code}, '
                                    f'expected {wanted}:\n{output[-3000:]}')
        self.output = '\n'.join(outputs)

    def check_output(self, block: Block) -> None:
        got = {' '.join(line.split()) for line in self.output.splitlines()}
        for line in block.text.splitlines():
            want = ' '.join(line.split())
            if want and want != '...':
                assert want in got, (f'{block.where}: the documented line\n    {line}\nis not in '
                                     f'the output of the block before it:\n{self.output[-3000:]}')

    def check_loss_log(self, block: Block) -> None:
        logs = glob.glob(os.path.join(self.sandbox, 'work_dirs', '*', 'loss.log'))
        assert logs, f'{block.where}: no run on this page wrote a loss.log to compare with'
        real = {shape(line) for path in logs for line in open(path, encoding='utf-8')}
        for line in block.text.splitlines():
            if line.strip() and not line.startswith(' --- ') and line.strip() != '...':
                assert shape(line) in real, (f'{block.where}: this loss.log line has a layout '
                                             f'no real run writes:\n    {line}')

    def write_file(self, block: Block) -> None:
        path = os.path.join(self.sandbox, block.args)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(block.text + '\n')

    def check_config(self, block: Block) -> None:
        check_config_snippet(block, self.sandbox)


def shape(line: str) -> str:
    """A loss.log line with numbers replaced by '#' and spaces collapsed."""
    line = re.sub(r'[-+]?\d+(\.\d+)?([eE][-+]?\d+)?', '#', line)
    return ' '.join(line.split())


def check_config_snippet(block: Block, sandbox: str) -> None:
    from tools.vis_scheduler import build_schedule
    from trainkit.config.load import load_config
    from trainkit.engine.from_cfg import prepare_config
    from trainkit.hooks.build import build_hooks, list_hooks
    base = dict(arg.split('=', 1) for arg in block.args.split() if '=' in arg).get(
        'base', 'spice.py')
    yaml_block = block.lang in ('yaml', 'yml')
    has_base = re.search(r'^_base_\s*[=:]', block.text, re.M)
    text = block.text
    if base != 'none' and not has_base:
        text = (f'_base_: [{base}]\n' if yaml_block else f'_base_ = [{base!r}]\n') + text
    path = os.path.join(sandbox, 'configs', f'_doc_{block.line}.{"yaml" if yaml_block else "py"}')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text + '\n')
    with inside(sandbox):
        cfg = load_config(path)
        plain = prepare_config(cfg)
        build_schedule(cfg, 10)
        build_hooks(list_hooks(plain))


# ------------------------------------------------------------------------------- tests
@contextlib.contextmanager
def isolated(sandbox: str):
    """Undo what a page's examples register and import, so pages and other tests do not
    see each other's components."""
    from trainkit.registry import ALL_REGISTRIES
    for reg in ALL_REGISTRIES.values():
        reg.import_from_location()  # trainkit's own components stay registered
    saved = {name: dict(reg._module_dict) for name, reg in ALL_REGISTRIES.items()}
    try:
        yield
    finally:
        for name, reg in ALL_REGISTRIES.items():
            reg._module_dict.clear()
            reg._module_dict.update(saved[name])
        for name, module in list(sys.modules.items()):
            if (getattr(module, '__file__', None) or '').startswith(sandbox):
                del sys.modules[name]


@pytest.mark.parametrize('page', pages(), ids=lambda p: os.path.relpath(p, DOCS))
def test_page_examples_run(page, spice_file, tmp_path):
    sandbox = make_sandbox(tmp_path / 'project', spice_file)
    runner = PageRun(page, sandbox)
    with isolated(sandbox):
        for block in parse(page):
            runner.run(block)


def test_every_code_block_is_run_or_says_why_not():
    problems = []
    for page in my_pages():
        for block in parse(page):
            if block.lang not in CODE_LANGS:
                continue
            if block.kind is None:
                problems.append(f'{block.where}: a {block.lang} block without a test marker')
            elif block.kind == 'skip' and not block.args:
                problems.append(f'{block.where}: "test: skip" needs a reason')
            elif block.kind not in ('run', 'config', 'file', 'skip'):
                problems.append(f'{block.where}: unknown marker {block.kind!r} on code')
    assert not problems, '\n'.join(problems)


# ------------------------------------------------------------------------------- tables
def table_rows(block: Block) -> List[Dict[str, str]]:
    """A markdown table as dicts keyed by the (lower-cased) header cells."""
    lines = [line.strip().strip('|') for line in block.text.splitlines()]
    header = [cell.strip().lower() for cell in lines[0].split('|')]
    return [dict(zip(header, (cell.strip() for cell in line.split('|')))) for line in lines[2:]]


def names_in(cell: str) -> List[str]:
    """The backticked names of a first-column cell (``a``, ``b`` → ['a', 'b'])."""
    return re.findall(r'`([^`]+)`', cell)


def resolve(dotted: str):
    """``pkg.module.Attr.attr`` → the object."""
    parts = dotted.split('.')
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module('.'.join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(dotted)


def default_column(row: Dict[str, str]) -> Optional[str]:
    for key in ('default', '默认值'):
        if key in row:
            return row[key]
    return None


def check_default(where: str, name: str, cell: str, param: inspect.Parameter) -> Optional[str]:
    """A problem if the documented default contradicts the signature's."""
    required = param.default is inspect.Parameter.empty
    if cell.startswith(('required', '必填')):
        return None if required else f'{where}: {name} is documented as required but has a ' \
                                      f'default {param.default!r}'
    quoted = re.match(r'`([^`]*)`', cell)
    if quoted is None:
        return None
    try:
        value = ast.literal_eval(quoted.group(1))
    except (ValueError, SyntaxError):
        return None  # a description such as `max_epochs`
    if required:
        return f'{where}: {name} is documented with default {value!r} but is required'
    if value != param.default:
        return f'{where}: {name} is documented with default {value!r}, the code has ' \
               f'{param.default!r}'
    return None


def check_signature_table(block: Block) -> List[str]:
    targets, excluded, extra = [], set(), set()
    for word in block.args.split():
        if word.startswith('-'):
            excluded.add(word[1:])
        elif word.startswith('+'):
            extra.add(word[1:])
        else:
            targets.append(resolve(word))
    params: Dict[str, inspect.Parameter] = {}
    for target in targets:
        fn = target.__init__ if inspect.isclass(target) else target
        for param in list(inspect.signature(fn).parameters.values())[1:]:
            if param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                params.setdefault(param.name, param)
    expected = (set(params) - excluded) | extra
    documented, problems = {}, []
    for row in table_rows(block):
        for name in names_in(next(iter(row.values()))):
            documented[name] = row
    if set(documented) != expected:
        problems.append(f'{block.where}: the table lists {sorted(documented)}, the code has '
                        f'{sorted(expected)}')
    for name, row in documented.items():
        cell = default_column(row)
        if name in params and cell is not None:
            problems.append(check_default(block.where, name, cell, params[name]))
    return [p for p in problems if p]


def check_keys_table(block: Block) -> List[str]:
    expected = set(resolve(block.args.strip()))
    documented = {name for row in table_rows(block) for name in names_in(next(iter(row.values())))}
    if documented != expected:
        return [f'{block.where}: the table lists {sorted(documented)}, the code has '
                f'{sorted(expected)} (missing {sorted(expected - documented)}, extra '
                f'{sorted(documented - expected)})']
    return []


# two values per reference key: where the key lands, its value differs between them
REFERENCE_SAMPLES = {
    'run_name': ('a', 'b'), 'resume': (False, True), 'ckpt_file': ('a.pt', 'b.pt'),
    'finetune_modules': (['readout'], ['embedding']), 'lossfn': ('mae', 'mse'),
    'losses_weight': ({'energy': 1.0}, {'energy': 2.0}), 'optimizer': ('Adam', 'NAdam'),
    'optimizer_kwargs': ({'eps': 1e-8}, {'eps': 1e-6}), 'max_lr': (1e-3, 2e-3),
    'min_lr': (0.0, 1e-6), 'warmup_scheduler': ('linear', 'exponential'),
    'warmup_epochs': (2, 3), 'lr_scheduler': ('cosine', 'plateau'),
    'lr_scheduler_kwargs': ({'T_max': 10}, {'T_max': 20}),
    'early_stoppings': ({'energy': {'patience': 2}}, {'energy': {'patience': 3}}),
    'early_stopping_mode': ('and', 'or'), 'ema_decay': (0.99, 0.999), 'save_dir': ('a', 'b'),
    'best_k': (1, 2), 'log_file': ('a.log', 'b.log'), 'log_steps': (10, 20),
    'log_epochs': (1, 2), 'max_epochs': (10, 20), 'grad_clip': (1.0, 2.0), 'seed': (0, 1),
    'num_workers': (0, 1),
}
NEEDS = {'lossfn': {'losses_weight': {'energy': 1.0}},
         'early_stopping_mode': {'early_stoppings': {'energy': {'patience': 2}}}}


def at_path(cfg, path: str):
    for part in path.split('.'):
        cfg = cfg[int(part)] if isinstance(cfg, list) else cfg[part]
    return cfg


def check_reference_table(block: Block) -> List[str]:
    from trainkit.config.reference.expand import REFERENCE_DEFAULTS, expand_reference_keys
    rows = {names_in(next(iter(row.values())))[0]: row for row in table_rows(block)}
    problems = []
    if set(rows) != set(REFERENCE_DEFAULTS):
        problems.append(f'{block.where}: the table lists {sorted(rows)}, the reference keys are '
                        f'{sorted(REFERENCE_DEFAULTS)}')
    canonical = dict(model=dict(type='MLP', in_features=4),
                     train_dataloader=dict(dataset=dict(type='SyntheticRegression')))
    for key, row in rows.items():
        cells = list(row.values())
        documented = ast.literal_eval(names_in(cells[1])[0])
        if key in REFERENCE_DEFAULTS and documented != REFERENCE_DEFAULTS[key]:
            problems.append(f'{block.where}: {key} default {documented!r}, the code has '
                            f'{REFERENCE_DEFAULTS[key]!r}')
        path = names_in(cells[2])[0]
        values = []
        for sample in REFERENCE_SAMPLES[key]:
            section = dict(NEEDS.get(key, {}), **{key: sample})
            try:
                values.append(at_path(expand_reference_keys(dict(canonical, trainer=section)),
                                      path))
            except (KeyError, IndexError, TypeError):
                values.append(None)
        if values[0] == values[1]:
            problems.append(f'{block.where}: trainer.{key} does not land at {path}')
    return problems


def marked_tables(kind: str):
    return [block for page in pages() for block in parse(page)
            if block.lang == 'table' and block.kind == kind]


@pytest.mark.parametrize('kind, check', [('signature', check_signature_table),
                                         ('keys', check_keys_table),
                                         ('reference-table', check_reference_table)])
def test_tables_match_the_code(kind, check):
    blocks = marked_tables(kind)
    assert blocks, f'no "{kind}" table found'
    problems = [problem for block in blocks for problem in check(block)]
    assert not problems, '\n'.join(problems)


def test_every_shipped_schedule_is_drawn_in_the_docs():
    """Each configs/_base_/schedules file has a preview config, a command in schedules.md that
    draws it, and the committed picture that command makes."""
    page = os.path.join(DOCS, 'schedules.md')
    text = open(page, encoding='utf-8').read()
    drawn = {words[words.index('--save-path') + 1]: words[2]
             for block in parse(page) if block.kind == 'run' and block.lang == 'bash'
             for words in commands(block.text) if 'tools/vis_scheduler.py' in words}
    problems = []
    for path in sorted(glob.glob(os.path.join(ROOT, 'configs', '_base_', 'schedules', '*.py'))):
        stem = os.path.splitext(os.path.basename(path))[0]
        image, preview = f'docs/images/schedule_{stem}.png', f'docs/examples/schedules/{stem}.py'
        preview_text = open(os.path.join(ROOT, preview), encoding='utf-8').read() \
            if os.path.isfile(os.path.join(ROOT, preview)) else ''
        if f'configs/_base_/schedules/{stem}.py' not in preview_text:
            problems.append(f'{preview} does not inherit configs/_base_/schedules/{stem}.py')
        if drawn.get(image) != preview:
            problems.append(f'schedules.md has no command drawing {image} from {preview}')
        if not os.path.isfile(os.path.join(ROOT, image)):
            problems.append(f'{image} is not committed')
        if f'](images/schedule_{stem}.png)' not in text:
            problems.append(f'schedules.md does not show images/schedule_{stem}.png')
    assert not problems, '\n'.join(problems)


# ------------------------------------------------------------------------- links and nav
LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: formatting dropped, lower case, punctuation removed
    (unicode letters kept), spaces to hyphens."""
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', heading).replace('`', '')
    return re.sub(r'[^\w\- ]', '', text.strip().lower()).replace(' ', '-')


def anchors(page: str) -> set:
    found, counts, in_code = set(), {}, False
    for line in open(page, encoding='utf-8'):
        if line.lstrip().startswith('```'):
            in_code = not in_code
        elif not in_code and line.startswith('#'):
            base = slug(line.lstrip('#'))
            n = counts.get(base, 0)
            counts[base] = n + 1
            found.add(base if n == 0 else f'{base}-{n}')
    return found


def test_links_point_to_existing_pages_and_headings():
    problems = []
    for page in my_pages():
        text = re.sub(r'```.*?```', '', open(page, encoding='utf-8').read(), flags=re.S)
        for target in LINK.findall(text):
            if re.match(r'[a-z]+:', target):
                continue  # http(s), mailto
            path, _, anchor = target.partition('#')
            full = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
            where = os.path.relpath(page, ROOT)
            if not os.path.exists(full):
                problems.append(f'{where}: link to {target}: {path} does not exist')
            elif anchor and full.endswith('.md') and anchor not in anchors(full):
                problems.append(f'{where}: link to {target}: no heading with that anchor')
    assert not problems, '\n'.join(problems)


def nav_files(entries) -> List[str]:
    files = []
    for entry in entries:
        for value in (entry.values() if isinstance(entry, dict) else [entry]):
            files += nav_files(value) if isinstance(value, list) else [value]
    return files


def test_mkdocs_nav_lists_every_page():
    with open(os.path.join(ROOT, 'mkdocs.yml'), encoding='utf-8') as f:
        nav = nav_files(yaml.safe_load(f)['nav'])
    in_docs = {os.path.relpath(p, DOCS) for p in pages()}
    assert sorted(set(nav) - in_docs) == [], 'nav entries without a page'
    assert sorted(in_docs - set(nav)) == [], 'pages missing from the nav'
