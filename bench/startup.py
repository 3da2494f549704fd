"""Start-up cost: ``import trainkit`` next to ``import torch``, and the time from launching a
training command to its first optimizer step, trainkit next to MMEngine's Runner.

    python bench/startup.py               # 7 interleaved repetitions of everything
    python bench/startup.py --quick       # 3 repetitions
    python bench/startup.py --importtime  # also the `python -X importtime` record

Every number comes from a fresh subprocess (nothing is cached in this process):

* **imports** — ``python -c "t = perf_counter(); import X; print(perf_counter() - t)"``: the
  import alone, without the interpreter's own start-up (shown separately as ``python -c pass``).
* **time to first step** — the parent notes ``time.monotonic()``, launches the command, and a
  hook in the child writes ``time.monotonic()`` after the first optimizer step (Linux's
  CLOCK_MONOTONIC is system-wide, so the two clocks agree). The hook only writes that
  timestamp (``bench/startup_plugins/``). The commands, on the same tiny job (MLP
  32→128→128→1, 2,048 synthetic samples, batch 32, AdamW, linear warmup + cosine, a log row
  every 50 steps, a checkpoint at the end of the one epoch):

  - ``raw script`` — the job written by hand (the floor: torch's own import and first step);
  - ``trainkit`` — ``python tools/train.py CONFIG``;
  - ``mmengine`` — an OpenMMLab-style ``train.py`` (``Config.fromfile`` →
    ``Runner.from_cfg`` → ``train``) with the equivalent MMEngine config.

  The whole run (launch to exit, one epoch of 64 steps) is reported too.

Repetitions are interleaved (the order rotates every repetition) so a busy machine slows all
variants alike; ratios are medians of the per-repetition ratios.
"""
import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Tuple

import _common  # noqa: F401  (puts the repository root on sys.path)
from _common import ROOT, environment_lines, table

PLUGINS = os.path.join(ROOT, 'bench', 'startup_plugins')
PY = sys.executable

TRAINKIT_CFG = """\
_base_ = [{root!r} + '/configs/_base_/schedules/adamw_warmup_cosine.py',
          {root!r} + '/configs/_base_/default_runtime.py']
custom_imports = dict(imports=['trainkit_first_step'])
run_name = 'startup'
work_dir = {work!r}
seed = 0
model = dict(type='MLP', in_features=32, hidden=[128, 128], out_features=1)
train_dataloader = dict(dataset=dict(type='SyntheticRegression', num_samples=2048,
                                     in_features=32), batch_size=32, shuffle=True)
loss = dict(type='WeightedLoss', lossfn='mse', losses_weight=dict(y=1.0))
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.01))
param_scheduler = [dict(type='LinearWarmup', warmup_epochs=1),
                   dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(type='LoggerHook', log_steps=50, progress_bar=False))
custom_hooks = [dict(type='FirstStepHook')]
"""

MMENGINE_CFG = """\
custom_imports = dict(imports=['mmengine_parts'], allow_failed_imports=False)
work_dir = {work!r}
model = dict(type='BenchMLP', in_features=32, hidden=128)
train_dataloader = dict(batch_size=32, num_workers=0,
                        dataset=dict(type='BenchRegression', num_samples=2048, in_features=32),
                        sampler=dict(type='DefaultSampler', shuffle=True),
                        collate_fn=dict(type='default_collate'))
train_cfg = dict(by_epoch=True, max_epochs=1)
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01))
param_scheduler = [dict(type='LinearLR', start_factor=1 / 64, by_epoch=False, begin=0, end=64),
                   dict(type='CosineAnnealingLR', eta_min=0.0, T_max=1, by_epoch=True, begin=0,
                        end=1, convert_to_iter_based=True)]
default_hooks = dict(timer=dict(type='IterTimerHook'),
                     logger=dict(type='LoggerHook', interval=50),
                     param_scheduler=dict(type='ParamSchedulerHook'),
                     checkpoint=dict(type='CheckpointHook', interval=1),
                     sampler_seed=dict(type='DistSamplerSeedHook'))
custom_hooks = [dict(type='FirstStepHook')]
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
launcher = 'none'
"""

IMPORT_SNIPPET = ('import time; t = time.perf_counter(); {stmt}; '
                  'print(repr(time.perf_counter() - t))')


def child_env() -> Dict[str, str]:
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([PLUGINS, ROOT] + (
        [env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    env.setdefault('OMP_NUM_THREADS', '1')
    env.pop('PYTHONDONTWRITEBYTECODE', None)  # let the warm-up run write .pyc files
    return env


def run_checked(cmd: List[str], env: Dict[str, str], cwd: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}')
    return proc


# ----------------------------------------------------------------------------- imports
def import_variants() -> Dict[str, str]:
    variants = {'python -c pass (interpreter only)': None,
                'import torch': 'import torch',
                'import trainkit': 'import trainkit',
                'import trainkit; from trainkit import Runner': 'from trainkit import Runner',
                'import mmengine.runner': 'import mmengine.runner'}
    if importlib.util.find_spec('lightning') is not None:
        variants['import lightning.pytorch'] = 'import lightning.pytorch'
    elif importlib.util.find_spec('pytorch_lightning') is not None:
        variants['import pytorch_lightning'] = 'import pytorch_lightning'
    return variants


def time_import(stmt, env, cwd) -> float:
    if stmt is None:  # the whole interpreter start-up, measured from outside
        start = time.perf_counter()
        run_checked([PY, '-c', 'pass'], env, cwd)
        return time.perf_counter() - start
    proc = run_checked([PY, '-c', IMPORT_SNIPPET.format(stmt=stmt)], env, cwd)
    return float(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------ first step
def first_step_commands(scratch: str) -> Dict[str, Tuple[List[str], str]]:
    """name -> (argv, work dir) — the work dir is wiped before every launch."""
    tk_work, mm_work, raw_work = (os.path.join(scratch, n) for n in ('tk', 'mm', 'raw'))
    tk_cfg = os.path.join(scratch, 'trainkit_cfg.py')
    mm_cfg = os.path.join(scratch, 'mmengine_cfg.py')
    with open(tk_cfg, 'w') as f:
        f.write(TRAINKIT_CFG.format(root=ROOT, work=tk_work))
    with open(mm_cfg, 'w') as f:
        f.write(MMENGINE_CFG.format(work=mm_work))
    return {
        'raw script': ([PY, os.path.join(PLUGINS, 'raw_train.py'), raw_work], raw_work),
        'trainkit (tools/train.py)': ([PY, os.path.join(ROOT, 'tools', 'train.py'), tk_cfg],
                                      tk_work),
        'mmengine (Runner.from_cfg)': ([PY, os.path.join(PLUGINS, 'mmengine_train.py'),
                                        mm_cfg], mm_work),
    }


def time_first_step(argv: List[str], work: str, env, cwd, scratch) -> Tuple[float, float]:
    shutil.rmtree(work, ignore_errors=True)
    stamp = os.path.join(scratch, 'first_step.txt')
    if os.path.exists(stamp):
        os.remove(stamp)
    env = dict(env, BENCH_FIRST_STEP_FILE=stamp)
    start = time.monotonic()
    run_checked(argv, env, cwd)
    end = time.monotonic()
    with open(stamp) as f:
        first = float(f.read())
    return first - start, end - start


# ----------------------------------------------------------------------------- record
def parse_importtime(stderr: str, top: int = 12) -> List[Tuple[str, float, float]]:
    """(module, self ms, cumulative ms) of the ``top`` slowest top-level imports (by
    cumulative time) in the output of ``python -X importtime``, after an ``(all imports)`` row
    that sums the top-level entries."""
    rows = []
    for line in stderr.splitlines():
        parts = line[len('import time:'):].split('|')
        if not line.startswith('import time:') or len(parts) != 3 or \
                not parts[0].strip().isdigit():
            continue
        name = parts[2][1:]  # one space follows the bar, then two per nesting level
        depth = (len(name) - len(name.lstrip(' '))) // 2
        rows.append((depth, name.strip(), int(parts[0]) / 1e3, int(parts[1]) / 1e3))
    firsts = [r for r in rows if r[0] == 0]
    total = sum(r[3] for r in firsts)
    slowest = sorted(firsts, key=lambda r: -r[3])[:top]
    return [('(all imports)', 0.0, total)] + [(name, s, c) for _, name, s, c in slowest]


def importtime_record(stmt: str, env, cwd, top: int = 12) -> List[Tuple[str, float, float]]:
    """:func:`parse_importtime` of ``python -X importtime -c stmt``."""
    return parse_importtime(run_checked([PY, '-X', 'importtime', '-c', stmt], env, cwd).stderr,
                            top)


def median_ratio(values: List[float], base: List[float]) -> float:
    return statistics.median(a / b for a, b in zip(values, base))


def interleaved(names: List[str], repeats: int, run_one, label: str) -> Dict[str, List]:
    out: Dict[str, List] = {n: [] for n in names}
    for rep in range(repeats):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            out[name].append(run_one(name))
        print(f'  {label}: repetition {rep + 1}/{repeats} done', file=sys.stderr)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='3 repetitions')
    parser.add_argument('--repeats', type=int, default=None, help='default 7 (3 with --quick)')
    parser.add_argument('--importtime', action='store_true',
                        help='also print the `python -X importtime` record')
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    env = child_env()
    settings = {'repetitions': f'{repeats} interleaved, fresh subprocesses',
                'job': 'MLP 32-128-128-1, 2048 samples, batch 32, AdamW, warmup+cosine, '
                       '1 epoch of 64 steps, log every 50, checkpoint at epoch end',
                'OMP_NUM_THREADS': env['OMP_NUM_THREADS']}
    header = environment_lines(settings, extra_versions=('pytorch-lightning', 'lightning'))

    with tempfile.TemporaryDirectory(prefix='trainkit-startup-') as scratch:
        imports = import_variants()
        names = list(imports)
        for name in names:  # warm the OS file cache once
            time_import(imports[name], env, scratch)
        imp = interleaved(names, repeats, lambda n: time_import(imports[n], env, scratch),
                          'imports')
        commands = first_step_commands(scratch)
        cmd_names = list(commands)
        for name in cmd_names:  # warm-up launch (file cache, .pyc files)
            time_first_step(*commands[name], env, ROOT, scratch)
        runs = interleaved(cmd_names, repeats,
                           lambda n: time_first_step(*commands[n], env, ROOT, scratch),
                           'first step')
        records = {}
        if args.importtime:
            for stmt in ('import torch', 'import trainkit', 'from trainkit import Runner'):
                records[stmt] = importtime_record(stmt, env, scratch)

    base = imp['import torch']
    rows = []
    for name in names:
        t = imp[name]
        rows.append([name, f'{min(t):.3f}', f'{statistics.median(t):.3f}',
                     f'{median_ratio(t, base):.3f}' if name != names[0] else '-'])
    first = {n: [r[0] for r in runs[n]] for n in cmd_names}
    whole = {n: [r[1] for r in runs[n]] for n in cmd_names}
    mm = first['mmengine (Runner.from_cfg)']
    raw = first['raw script']
    rows2 = []
    for name in cmd_names:
        t, w = first[name], whole[name]
        rows2.append([name, f'{min(t):.3f}', f'{statistics.median(t):.3f}',
                      f'{median_ratio(t, mm):.3f}',
                      f'{statistics.median(a - b for a, b in zip(t, raw)):+.3f}',
                      f'{min(w):.3f}', f'{statistics.median(w):.3f}'])

    print('## Start-up\n')
    print(header)
    print('\n### Import time (seconds inside a fresh interpreter)\n')
    print(table(['import', 'best s', 'median s', 'ratio to import torch (median of paired)'],
                rows))
    print('\n### Launch to first optimizer step (seconds, fresh process)\n')
    print(table(['command', 'first step best s', 'first step median s',
                 'ratio to mmengine (median of paired)', 'over raw script (median) s',
                 'whole run best s', 'whole run median s'], rows2))
    for stmt, record in records.items():
        print(f'\n### `python -X importtime -c "{stmt}"` (top-level imports, one run)\n')
        print(table(['module', 'self ms', 'cumulative ms'],
                    [[f'`{m}`', f'{s:.1f}', f'{c:.1f}'] for m, s, c in record]))
    return 0


if __name__ == '__main__':
    sys.exit(main())
