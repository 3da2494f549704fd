"""Crash-safety trials: SIGKILL ``python tools/train.py configs/spice.py`` at random moments,
resume it with ``--resume`` until it finishes, and check it ends exactly where an uninterrupted
run ends.

    python bench/killtest.py                  # 50 trials, 2 kills each
    python bench/killtest.py --trials 20 --kills 3 --out killtest.md
    python bench/killtest.py --iter-delay 0.1   # slower iterations: more kills land mid-epoch

The run is the shipped SPICE config as a user runs it — default hooks (EMA, best-3 files,
background checkpoint writes, TensorBoard), the machine's default thread count — shortened to
``tests.support.reliability.TRIAL_EPOCHS`` epochs of ``TRIAL_MOLECULES`` demo molecules, with a
mid-epoch checkpoint every ``TRIAL_INTERVAL_STEPS`` optimizer steps.

The runs get ``OMP_WAIT_POLICY=PASSIVE`` unless ``--omp-wait-policy`` says otherwise: idle
OpenMP threads then sleep instead of spinning. It changes no number (same threads, same work
split), but on a machine shared with other jobs a spinning thread burns the time slice its
partner needs — there a SPICE step took 8.2 s with spinning and 0.08 s without
(docs/performance.md).

Each trial is ``tests/support/reliability.run_trial`` (the same code CI runs a few times in
``tests/checkpointing/test_crash_safety.py``): ``tools/train.py`` in a subprocess with the
fault-injection plugin (checkpoint files written in slow chunks, a pause before the rename),
at least one kill inside a checkpoint write, the others at random times. A trial passes when every
resume exits 0 and the final ``_last.pt`` (model, EMA, optimizer, schedules, hooks, RNG, counters),
the best-k files and the logs equal the uninterrupted run's. The script prints a markdown
table of trials, kills, passes and where the kills landed, and the summary of any failure.
"""
import argparse
import collections
import os
import shutil
import sys
import tempfile
import time
from typing import Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.support import reliability as h  # noqa: E402

# where a kill landed, from the ``@@`` marker the run printed last (reliability._where)
PLACES = (
    ('mid-write', 'inside a checkpoint write (temp file partly written)'),
    ('before-replace', 'temp file complete, before the rename'),
    ('after-replace', 'just after a checkpoint was renamed into place'),
    ('mid-epoch', 'in a training epoch (iterations or validation)'),
    ('before-training', 'before the first training iteration'),
)


def place_of(where: str) -> str:
    """One of :data:`PLACES` for a ``RunRecord.where`` text."""
    if where.startswith('writing'):
        return 'before-replace' if ('before' in where or 'complete' in where) else 'mid-write'
    if where.startswith('just after replacing'):
        return 'after-replace'
    if where.startswith('training'):
        return 'mid-epoch'
    return 'before-training'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--trials', type=int, default=50, help='number of trials (default 50)')
    parser.add_argument('--kills', type=int, default=2, help='kills per trial (default 2)')
    parser.add_argument('--seed', type=int, default=1000, help='seed of the first trial')
    parser.add_argument('--epochs', type=int, default=h.TRIAL_EPOCHS,
                        help=f'epochs of the run (default {h.TRIAL_EPOCHS})')
    parser.add_argument('--iter-delay', type=float, default=h.SLOW['TK_ITER_DELAY'],
                        help='seconds slept per training iteration in the killed runs (default '
                             f'{h.SLOW["TK_ITER_DELAY"]}); checkpoint writes take '
                             f'{h.WRITE_WINDOW:.2f} s each')
    parser.add_argument('--omp-wait-policy', default='PASSIVE',
                        help="OMP_WAIT_POLICY of the runs (default PASSIVE; '' leaves the "
                             "environment's)")
    parser.add_argument('--out', help='also write the markdown report to this file')
    parser.add_argument('--keep', action='store_true', help='keep the work dirs (printed)')
    return parser.parse_args(argv)


def report(trials: List[h.Trial], seconds: float, args) -> str:
    kills = [r for t in trials for r in t.runs if r.killed]
    places: Dict[str, int] = collections.Counter(place_of(r.where) for r in kills)
    passed = sum(t.passed for t in trials)
    lines = [
        f'Crash-safety trials: configs/spice.py ({args.epochs} epochs of {h.TRIAL_MOLECULES} '
        f'demo molecules, a checkpoint every {h.TRIAL_INTERVAL_STEPS} steps, default hooks and '
        f'thread count), {args.kills} SIGKILLs per trial (at least one inside a checkpoint '
        f'write), resumed with --resume until finished; {args.iter_delay} s added per '
        f'iteration, {h.WRITE_WINDOW:.2f} s per checkpoint write, '
        f'OMP_WAIT_POLICY={os.environ.get("OMP_WAIT_POLICY", "")!r}.',
        '',
        '| trials | passed | kills | resumes | fresh restarts | stale temp files | minutes |',
        '|---:|---:|---:|---:|---:|---:|---:|',
        f'| {len(trials)} | {passed} | {len(kills)} | '
        f'{sum(len(t.runs) - 1 - t.fresh_restarts for t in trials)} | '
        f'{sum(t.fresh_restarts for t in trials)} | {sum(t.stale_temp_files for t in trials)} | '
        f'{seconds / 60:.1f} |',
        '',
        '| where the kill landed | kills |',
        '|---|---:|',
    ]
    lines += [f'| {name}: {text} | {places.get(name, 0)} |' for name, text in PLACES]
    failed = [t for t in trials if not t.passed]
    if failed:
        lines += ['', f'{len(failed)} failed trial(s):']
        for trial in failed:
            lines += [trial.summary()] + [f'    {p}' for p in trial.problems]
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    h.SLOW['TK_ITER_DELAY'] = args.iter_delay  # a sleep: the numbers a run computes are the same
    if args.omp_wait_policy:  # how idle threads wait: the numbers are the same too
        os.environ['OMP_WAIT_POLICY'] = args.omp_wait_policy
    root = tempfile.mkdtemp(prefix='killtest-')
    begin = time.monotonic()
    reference = h.reference_run(root, max_epochs=args.epochs)
    trials = []
    for i in range(args.trials):
        trial = h.run_trial(args.seed + i, root, reference, kills=args.kills,
                            max_epochs=args.epochs)
        trials.append(trial)
        print(f'[{i + 1}/{args.trials}] {trial.summary()}', flush=True)
        if args.out:  # the counts so far, should the bench be stopped early
            with open(args.out, 'w', encoding='utf-8') as f:
                f.write(report(trials, time.monotonic() - begin, args) + '\n')
        if not args.keep and trial.passed:
            shutil.rmtree(os.path.join(root, f'trial-{trial.seed}'), ignore_errors=True)
    text = report(trials, time.monotonic() - begin, args)
    print('\n' + text)
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            f.write(text + '\n')
    if args.keep:
        print(f'work dirs kept in {root}')
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if all(t.passed for t in trials) else 1


if __name__ == '__main__':
    sys.exit(main())
