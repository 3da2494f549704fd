"""Shared machinery of the reliability tests and ``bench/killtest.py``.

* :func:`tiny_cfg` / :func:`write_config`: a small seeded MLP run written as a Python config;
* :func:`spice_argv` / :func:`user_env`: ``configs/spice.py`` shortened with ``--cfg-options``,
  run as a user runs it (default hooks, the machine's default thread count);
* :func:`cli`: ``tools/train.py``'s ``main(argv)`` in-process (exit code, stdout, stderr);
* :func:`train_subprocess`: ``python tools/train.py ...`` as a real subprocess;
* :func:`run_trial`: one crash-safety trial — a run SIGKILLed at random moments (some of them
  while a checkpoint is being written) and resumed with ``--resume`` until it finishes, then
  compared with an uninterrupted reference run (:func:`compare_runs`).

Fault injection lives in ``tests/support/fault_plugin.py`` (loaded in the subprocess with
``--custom-imports tests.support.fault_plugin``); trainkit itself is not modified.
"""
import contextlib
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import torch

from tests.support.configs import ROOT, tiny_config
from trainkit.hooks.logger import TIMING_FIELDS

TRAIN = os.path.join(ROOT, 'tools', 'train.py')
PLUGIN = 'tests.support.fault_plugin'
RUN_NAME = 'tiny'


# ------------------------------------------------------------------------------ configs
def tiny_cfg(work_dir: str, **overrides) -> Dict[str, Any]:
    """conftest's tiny run (MLP 4→16→1, 64 samples in 4 batches) with best-2 files, EMA on
    and a log row every step."""
    cfg = tiny_config(work_dir, run_name=RUN_NAME,
                      default_hooks=dict(logger=dict(type='LoggerHook', log_steps=1),
                                         checkpoint=dict(type='CheckpointHook', best_k=2),
                                         ema=dict(type='EMAHook', ema_decay=0.9)))
    cfg.update(overrides)
    return cfg


SPICE_CONFIG = os.path.join(ROOT, 'configs', 'spice.py')
SPICE_RUN_NAME = 'spice-demo'


def spice_argv(work_dir: str, max_epochs: int = 2, molecules: int = 8,
               *options: str) -> List[str]:
    """``tools/train.py`` arguments for ``configs/spice.py`` as shipped (default hooks, seed 0),
    shortened: ``molecules`` molecules of the demo file (50 conformations each, 15 % of the
    molecules for validation, 10 % for the test split) and ``max_epochs`` epochs; ``options``
    are more ``--cfg-options`` entries."""
    short = [f'{where}.dataset.max_molecules={molecules}'
             for where in ('train_dataloader', 'val_dataloader')]
    return [SPICE_CONFIG, '--work-dir', str(work_dir), '--cfg-options', 'seed=0',
            f'train_cfg.max_epochs={max_epochs}', *short, *options]


def user_env(**extra) -> Dict[str, str]:
    """The environment a user has: no thread-count variable set (torch then uses one thread
    per core), the repository importable; ``extra`` added."""
    env = {k: v for k, v in os.environ.items()
           if k not in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS') and not k.startswith('TK_')}
    env['PYTHONPATH'] = os.pathsep.join(p for p in (ROOT, os.environ.get('PYTHONPATH')) if p)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def write_config(path: str, cfg: Dict[str, Any]) -> str:
    """Write ``cfg`` (plain values) as a Python config file; return its path."""
    path = str(path)
    with open(path, 'w', encoding='utf-8') as f:
        for key, value in cfg.items():
            f.write(f'{key} = {value!r}\n')
    return path


# ------------------------------------------------------------------------- running it
@dataclass
class CliResult:
    rc: int
    out: str
    err: str


def cli(argv: Sequence[str]) -> CliResult:
    """``tools/train.py`` in this process. An exception that escapes ``main`` (a bug: the CLI
    would print a traceback) is returned as exit code 1 with the traceback in ``err``."""
    from tools.train import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse
            rc = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: BLE001 - reported like the CLI would
            traceback.print_exc(file=err)
            rc = 1
    return CliResult(rc, out.getvalue(), err.getvalue())


def child_env(**extra) -> Dict[str, str]:
    """Environment of a training subprocess: one thread, the plugin importable."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONHASHSEED='0',
               PYTHONPATH=os.pathsep.join(p for p in (ROOT, env.get('PYTHONPATH'))
                                          if p))
    for key in [k for k in env if k.startswith('TK_')]:
        del env[key]
    env.update({k: str(v) for k, v in extra.items()})
    return env


def train_subprocess(argv: Sequence[str], timeout: float = 120, plugin: bool = False,
                     **env) -> subprocess.CompletedProcess:
    """``python tools/train.py argv`` (with ``--custom-imports tests.support.fault_plugin`` if
    ``plugin``); ``env`` are ``TK_*`` plugin settings."""
    args = [sys.executable, TRAIN, *map(str, argv)]
    if plugin:
        args += ['--custom-imports', PLUGIN]
    return subprocess.run(args, cwd=ROOT, env=child_env(**env), capture_output=True,
                          text=True, timeout=timeout)


# -------------------------------------------------------------------- killing a run
@dataclass
class KillPlan:
    """When to SIGKILL a run.

    kind ``'random'``: ``delay`` seconds after the ``nth`` training iteration of this run began
    (its ``@@iter`` marker: counted in iterations, a kill lands inside the run whatever the
    machine's load);
    ``'in_write'``: ``delay`` seconds after the ``nth`` checkpoint file write began (counted
    from the start of this run); ``'self'``: the plugin kills the process itself at the exact
    point ``spec`` (``TK_SELF_KILL``); ``'none'``: let it finish.
    """
    kind: str
    delay: float = 0.0
    nth: int = 1
    spec: str = ''

    def describe(self) -> str:
        if self.kind == 'random':
            return f'random kill {self.delay:.3f} s after iteration #{self.nth}'
        if self.kind == 'in_write':
            return f'kill {self.delay:.3f} s into checkpoint write #{self.nth}'
        if self.kind == 'self':
            return f'self-kill at {self.spec}'
        return 'run to the end'


@dataclass
class RunRecord:
    argv: List[str]
    plan: KillPlan
    rc: Optional[int] = None
    killed: bool = False
    where: str = ''
    stderr: str = ''
    stdout: str = ''
    seconds: float = 0.0


SLOW = dict(TK_WRITE_DELAY=0.08, TK_REPLACE_DELAY=0.04, TK_ITER_DELAY=0.02, TK_MARKERS=1)
WRITE_WINDOW = SLOW['TK_WRITE_DELAY'] + SLOW['TK_REPLACE_DELAY'] + 0.02


def _where(lines: List[str], kill_time: Optional[float]) -> str:
    """Where the process was when killed, from the last ``@@`` marker before the kill."""
    last = None
    for line in lines:
        if not line.startswith('@@'):
            continue
        parts = line[2:].split()
        if kill_time is not None and float(parts[-1]) > kill_time:
            break
        last = parts
    if last is None:
        return 'before the first training iteration'
    kind = last[0]
    if kind == 'iter':
        return f'training (epoch {last[1]}, batch {last[2]})'
    if kind == 'ckpt-begin':
        return f'writing {last[1]} (temp file opened)'
    if kind == 'ckpt-chunk':
        done, total = map(int, last[2].split('/'))
        return f'writing {last[1]} (temp file {done}/{total} written)' if done < total else \
            f'writing {last[1]} (temp file complete, before fsync/replace)'
    if kind == 'ckpt-written':
        return f'writing {last[1]} (before replace)'
    if kind == 'ckpt-replaced':
        return f'just after replacing {last[1]}'
    if kind == 'self-kill':
        return 'self-kill ' + ' '.join(last[1:-1])
    return ' '.join(last[:-1])


def run_killable(argv: Sequence[str], plan: KillPlan, timeout: float = 300,
                 signal_number: int = signal.SIGKILL) -> RunRecord:
    """Run ``tools/train.py`` with the plugin's slow writer, as a user runs it (default thread
    count), and send it ``signal_number`` (SIGKILL) as ``plan`` says."""
    env = dict(SLOW)
    if plan.kind == 'self':
        env['TK_SELF_KILL'] = plan.spec
    args = [sys.executable, TRAIN, *map(str, argv), '--custom-imports', PLUGIN]
    record = RunRecord(list(map(str, argv)), plan)
    begin = time.monotonic()
    proc = subprocess.Popen(args, cwd=ROOT, env=user_env(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1)
    out_lines: List[str] = []
    err_lines: List[str] = []
    started = threading.Event()
    writes: List[float] = []
    iters: List[float] = []
    cond = threading.Condition()

    def read_out():
        for line in proc.stdout:
            out_lines.append(line)
            if 'Start training' in line:
                started.set()

    def read_err():
        for line in proc.stderr:
            err_lines.append(line)
            if line.startswith('@@ckpt-begin') and started.is_set():
                with cond:
                    writes.append(time.monotonic())
                    cond.notify_all()
            elif line.startswith('@@iter '):
                with cond:
                    iters.append(time.monotonic())
                    cond.notify_all()

    threads = [threading.Thread(target=read_out, daemon=True),
               threading.Thread(target=read_err, daemon=True)]
    for t in threads:
        t.start()
    kill_time = None
    deadline = begin + timeout
    if plan.kind in ('random', 'in_write'):
        while not started.is_set() and proc.poll() is None and time.monotonic() < deadline:
            started.wait(0.05)
        fire_at = None
        if started.is_set():
            events = iters if plan.kind == 'random' else writes
            with cond:
                while len(events) < plan.nth and proc.poll() is None and \
                        time.monotonic() < deadline:
                    cond.wait(0.05)
                if len(events) >= plan.nth:
                    fire_at = events[plan.nth - 1] + plan.delay
        if fire_at is not None:
            while proc.poll() is None and time.monotonic() < fire_at:
                time.sleep(min(0.005, max(0.0, fire_at - time.monotonic())))
            if proc.poll() is None:
                kill_time = time.monotonic()
                proc.send_signal(signal_number)
    try:
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for t in threads:
        t.join(timeout=5)
    record.rc = proc.returncode
    record.killed = proc.returncode == -signal.SIGKILL or (
        signal_number != signal.SIGKILL and kill_time is not None)
    record.stdout, record.stderr = ''.join(out_lines), ''.join(err_lines)
    record.seconds = time.monotonic() - begin
    if record.killed:
        record.where = _where(err_lines, kill_time)
    return record


# ------------------------------------------------------------------------ comparisons
TIMING = re.compile(r'\(\d+(\.\d+)? s\)')
CKPT_PATH = re.compile(r'\S*/([^/\s]+\.pt)\b')


def log_rows(path: str, start: int = 0) -> List[str]:
    """Text-log lines from byte ``start`` on, with timings, checkpoint directories, the ``---
    Resumed``/``--- Start training`` lines and the column header a resumed run repeats
    removed."""
    with open(path, 'rb') as f:
        f.seek(start)
        lines = f.read().decode('utf-8').splitlines()
    rows, header_seen = [], False
    for line in lines:
        if line.startswith((' --- Resumed from', ' --- Start training')):
            continue
        if line.startswith('Train ') and 'Epoch' in line:
            if header_seen:
                continue
            header_seen = True
        rows.append(CKPT_PATH.sub(r'<work>/\1', TIMING.sub('(T s)', line)))
    return rows


def json_rows(path: str, start: int = 0) -> List[Dict[str, Any]]:
    """JSON-lines records from byte ``start`` on, timing fields removed."""
    with open(path, 'rb') as f:
        f.seek(start)
        lines = f.read().decode('utf-8').splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING_FIELDS}
            for line in lines]


def load(path: str) -> Dict[str, Any]:
    return torch.load(path, map_location='cpu', weights_only=True)


def diff_states(a: Any, b: Any, where: str = '') -> List[str]:
    """Paths where two nested checkpoint structures differ (tensors compared exactly)."""
    if torch.is_tensor(a) or torch.is_tensor(b):
        if not (torch.is_tensor(a) and torch.is_tensor(b)) or a.dtype != b.dtype or \
                a.shape != b.shape or not torch.equal(a, b):
            return [where or '<root>']
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        problems = [f'{where}.{k}: only in one' for k in set(a) ^ set(b)]
        for key in sorted(set(a) & set(b), key=str):
            problems += diff_states(a[key], b[key], f'{where}.{key}')
        return problems
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f'{where}: length {len(a)} vs {len(b)}']
        problems = []
        for i, (x, y) in enumerate(zip(a, b)):
            problems += diff_states(x, y, f'{where}[{i}]')
        return problems
    return [] if a == b else [f'{where}: {a!r} vs {b!r}']


COMPARED_KEYS = ('model', 'optimizer', 'schedule', 'hooks', 'rng')
VOLATILE_META = ('saved_at',)


def final_state_problems(work: str, ref: str, run_name: str = RUN_NAME) -> List[str]:
    """Compare ``_last.pt`` of a run with the reference's: model, EMA, optimizer, schedule,
    hooks, RNG states and counters must be equal bit for bit."""
    a, b = load(os.path.join(work, f'{run_name}_last.pt')), \
        load(os.path.join(ref, f'{run_name}_last.pt'))
    problems = []
    for key in ('model',):
        for name in b[key]:
            if name not in a[key] or not torch.equal(a[key][name], b[key][name]):
                problems.append(f'final weights differ from the uninterrupted run: {name}')
    ema_a, ema_b = (a['hooks'].get('ema') or {}), (b['hooks'].get('ema') or {})
    if 'ema_state_dict' in ema_b:
        for name, tensor in ema_b['ema_state_dict'].items():
            if not torch.equal(ema_a.get('ema_state_dict', {}).get(name, torch.empty(0)),
                               tensor):
                problems.append(f'final EMA weights differ: {name}')
    for key in COMPARED_KEYS:
        problems += [f'final checkpoint differs at {p}' for p in diff_states(a[key], b[key], key)
                     if not (key == 'model' or p.startswith('hooks.ema.ema_state_dict'))]
    meta_a = {k: v for k, v in a['meta'].items() if k not in VOLATILE_META}
    meta_b = {k: v for k, v in b['meta'].items() if k not in VOLATILE_META}
    problems += [f'final checkpoint differs at {p}' for p in diff_states(meta_a, meta_b, 'meta')]
    return problems


def best_k_problems(work: str, ref: str, best_k: int, run_name: str = RUN_NAME) -> List[str]:
    """The best-k slot files agree with the record in ``_last.pt`` and with the reference."""
    problems = []
    last = load(os.path.join(work, f'{run_name}_last.pt'))
    ref_last = load(os.path.join(ref, f'{run_name}_last.pt'))
    best = sorted(map(tuple, last['hooks']['checkpoint']['best']), key=lambda e: e[2])
    ref_best = sorted(map(tuple, ref_last['hooks']['checkpoint']['best']), key=lambda e: e[2])
    if best != ref_best:
        problems.append(f'best-k record {best} differs from the uninterrupted run {ref_best}')
    for value, epoch, slot in best:
        path = os.path.join(work, f'{run_name}_{slot}.pt')
        if not os.path.exists(path):
            problems.append(f'best-k slot file {path} is missing')
            continue
        state = load(path)
        if state['meta'].get('epoch') != epoch or state['meta'].get('value') != value:
            problems.append(f'slot {slot}: file holds epoch {state["meta"].get("epoch")} value '
                            f'{state["meta"].get("value")}, the record says epoch {epoch} value '
                            f'{value}')
        ref_path = os.path.join(ref, f'{run_name}_{slot}.pt')
        if os.path.exists(ref_path):
            ref_state = load(ref_path)
            for name, tensor in ref_state['model'].items():
                if not torch.equal(state['model'][name], tensor):
                    problems.append(f'slot {slot}: weights differ from the uninterrupted run '
                                    f'({name})')
                    break
    slots = {int(m.group(1)) for m in (re.fullmatch(rf'{re.escape(run_name)}_(\d+)\.pt', n)
                                       for n in os.listdir(work)) if m}
    if slots != {e[2] for e in best} or any(s >= best_k for s in slots):
        problems.append(f'slot files {sorted(slots)} do not match the record '
                        f'{sorted(e[2] for e in best)} (best_k={best_k})')
    return problems


def log_problems(work: str, ref: str, text_start: int = 0, json_start: int = 0) -> List[str]:
    """``loss.log`` and ``loss.jsonl`` (from the last fresh start on) hold exactly the
    reference's rows: no gap, no duplicate."""
    problems = []
    got = log_rows(os.path.join(work, 'loss.log'), text_start)
    want = log_rows(os.path.join(ref, 'loss.log'))
    if got != want:
        problems.append('loss.log rows differ from the uninterrupted run:\n' +
                        _first_difference(got, want))
    got_j = json_rows(os.path.join(work, 'loss.jsonl'), json_start)
    want_j = json_rows(os.path.join(ref, 'loss.jsonl'))
    if got_j != want_j:
        problems.append('loss.jsonl rows differ from the uninterrupted run:\n' +
                        _first_difference([json.dumps(r, sort_keys=True) for r in got_j],
                                          [json.dumps(r, sort_keys=True) for r in want_j]))
    return problems


def _first_difference(got: List[str], want: List[str]) -> str:
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return f'  row {i}: got  {g!r}\n  row {i}: want {w!r}'
    return f'  got {len(got)} rows, want {len(want)}; extra: ' + \
        repr((got[len(want):] or want[len(got):])[:3])


# ----------------------------------------------------------------------------- trials
@dataclass
class Trial:
    seed: int
    runs: List[RunRecord] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)
    fresh_restarts: int = 0
    stale_temp_files: int = 0

    @property
    def passed(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        kills = '; '.join(f'{r.plan.describe()} -> ' + (f'killed while {r.where}' if r.killed
                                                        else f'exit {r.rc}')
                          for r in self.runs)
        return f'trial {self.seed}: {"PASS" if self.passed else "FAIL"} [{kills}]'


# the trials' run: configs/spice.py as shipped, shortened, with a checkpoint every 2 steps
TRIAL_EPOCHS = 2
TRIAL_MOLECULES = 5       # 3 train molecules (1 val, 1 test): 150 conformations, 5 batches an epoch
TRIAL_INTERVAL_STEPS = 2  # mid-epoch checkpoints after batches 2 and 4 of each epoch
TRIAL_BEST_K = 3          # configs/spice.py's


def trial_argv(work: str, max_epochs: int = TRIAL_EPOCHS) -> List[str]:
    return spice_argv(work, max_epochs, TRIAL_MOLECULES,
                      f'default_hooks.checkpoint.interval_steps={TRIAL_INTERVAL_STEPS}')


def reference_run(root: str, max_epochs: int = TRIAL_EPOCHS) -> str:
    """An uninterrupted run in ``root/reference`` (with the plugin's delays, which change no
    number, so that its duration tells where random kills can land); returns the work dir."""
    work = os.path.join(root, 'reference')
    record = run_killable(trial_argv(work, max_epochs), KillPlan('none'))
    if record.rc != 0:
        raise RuntimeError(f'the reference run failed:\n{record.stdout[-2000:]}'
                           f'{record.stderr[-3000:]}')
    return work


def plan_kills(rng: random.Random, n: int) -> List[KillPlan]:
    """``n`` kills, at least one inside a checkpoint write; the others at random moments.

    ``delay``/``nth`` are fractions here, turned into seconds / a write or iteration number by
    :func:`_realize` once the point the run resumes from is known.
    """
    plans = [KillPlan('in_write', delay=rng.random(), nth=0)]
    for _ in range(n - 1):
        plans.append(KillPlan('in_write' if rng.random() < 0.5 else 'random',
                              delay=rng.random(), nth=0))
    rng.shuffle(plans)
    return plans


def _realize(plan: KillPlan, rng: random.Random, done_epochs: int, max_epochs: int,
             remaining_iters: int) -> KillPlan:
    """Turn a planned fraction into a concrete kill for a run starting after ``done_epochs``
    with ``remaining_iters`` training iterations to go."""
    if plan.kind not in ('random', 'in_write') or plan.nth:
        return plan
    remaining = max(1, max_epochs - done_epochs)
    if plan.kind == 'in_write':  # at least one write per remaining epoch
        return KillPlan('in_write', delay=plan.delay * WRITE_WINDOW,
                        nth=1 + int(rng.random() * remaining))
    # after a random iteration's start, by up to one slow checkpoint write: inside the step,
    # the checkpoint write after it, or the next step
    return KillPlan('random', delay=rng.random() * WRITE_WINDOW,
                    nth=1 + int(plan.delay * max(1, remaining_iters)))


def run_trial(seed: int, root: str, ref: str, kills: int = 2, max_epochs: int = TRIAL_EPOCHS,
              best_k: int = TRIAL_BEST_K, plans: Optional[List[KillPlan]] = None,
              max_runs: int = 20) -> Trial:
    """Kill a run of :func:`trial_argv` ``kills`` times (``plans`` or random ones), resume it
    with ``--resume`` until it finishes, and compare everything with the reference run
    ``ref``."""
    rng = random.Random(seed)
    trial = Trial(seed)
    work = os.path.join(root, f'trial-{seed}')
    shutil.rmtree(work, ignore_errors=True)
    last = os.path.join(work, f'{SPICE_RUN_NAME}_last.pt')
    total_iters = int(load(os.path.join(ref, f'{SPICE_RUN_NAME}_last.pt'))['meta']['iter'])
    queue = list(plans) if plans is not None else plan_kills(rng, kills)
    text_start = json_start = 0
    while len(trial.runs) < max_runs:
        plan = queue.pop(0) if queue else KillPlan('none')
        argv = trial_argv(work, max_epochs)
        done_epochs = done_iters = 0
        if os.path.exists(last):
            argv.append('--resume')
            meta = load(last)['meta']
            done_epochs, done_iters = int(meta['epoch']), int(meta['iter'])
        elif trial.runs:  # killed before the first checkpoint: start again from scratch
            trial.fresh_restarts += 1
            text_start = _size(os.path.join(work, 'loss.log'))
            json_start = _size(os.path.join(work, 'loss.jsonl'))
        plan = _realize(plan, rng, done_epochs, max_epochs, total_iters - done_iters)
        record = run_killable(argv, plan)
        trial.runs.append(record)
        if record.killed:
            continue
        if record.rc != 0:
            trial.problems.append(f'run {len(trial.runs)} ({argv[-1]}, '
                                  f'after {trial.runs[-2].where if len(trial.runs) > 1 else "-"}'
                                  f') exited {record.rc}:\n{record.stderr[-2000:]}')
            return trial
        break  # finished
    else:
        trial.problems.append(f'not finished after {max_runs} runs')
        return trial
    if not any(r.killed for r in trial.runs):
        trial.problems.append('no run was killed (the kill plans all came too late)')
    trial.problems += final_state_problems(work, ref, SPICE_RUN_NAME)
    trial.problems += best_k_problems(work, ref, best_k, SPICE_RUN_NAME)
    trial.problems += log_problems(work, ref, text_start, json_start)
    trial.stale_temp_files = len([n for n in os.listdir(work) if '.tmp-' in n])
    return trial


def _size(path: str) -> int:
    return os.path.getsize(path) if os.path.exists(path) else 0
