"""Plot logged keys of one or several runs side by side, or print a summary table.

::

    python tools/plot_log.py work_dirs/a work_dirs/b --keys loss val_energy_mae lr --out curves.png
    python tools/plot_log.py work_dirs/a/loss.jsonl --keys lr --logy --x epoch
    python tools/plot_log.py work_dirs/a --keys loss lr val_energy_mae val_forces_mae --cols 2
    python tools/plot_log.py work_dirs/a work_dirs/b --summary --keys val_weighted_mae

A run is a work dir (its ``*.jsonl``) or a JSON-lines file; the legend shows the run names.
A key is a field of the JSON rows (``loss``, ``lr``, ``energy_mae``, ``iter_time``, ...); a
field that several kinds of row hold (``loss`` is in train and validation rows) is drawn once
per kind. ``val_energy_mae`` or ``val/energy_mae`` (the TensorBoard tag) picks one kind:
``train``, ``val``, ``epoch`` or ``summary``. Validation of the EMA weights is dashed and
marked ``(EMA)``, raw validation dotted. A key no run logged is an error (exit 2) that lists
the keys there are.
``--summary`` prints, per run, the best value of each key (``--rule less`` or ``greater``),
the epoch it was reached, steps/s, samples/s and the total time of the last invocation.
"""
import glob
import json
import math
import os
import sys
from typing import Dict, List, Optional, Tuple

if __package__ in (None, ''):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trainkit.cli import ArgumentParser, report_error  # noqa: E402
from trainkit.errors import ConfigError, DataError  # noqa: E402
from trainkit.utils.output_path import check_output_path  # noqa: E402
from trainkit.utils.suggest import did_you_mean  # noqa: E402

KINDS = ('train', 'val', 'epoch', 'summary')
_STYLE = {'train': '-', 'epoch': '-.', 'val': ':'}  # raw validation dotted, EMA dashed
_NOT_KEYS = {'kind', 'step', 'epoch', 'step_in_epoch', 'time', 'ema'}

Series = Dict[Tuple[str, bool], Tuple[List[float], List[float]]]  # (kind, ema) -> xs, ys


def load_rows(path: str) -> List[dict]:
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, '*.jsonl')))
        if not files:
            raise DataError(f'{path}: no *.jsonl file in this directory; give a run\'s work '
                            f'dir (it holds loss.jsonl) or the .jsonl file')
        path = files[0]
    if not os.path.isfile(path):
        raise DataError(f'{path}: no such file or directory; give a run\'s work dir or its '
                        f'loss.jsonl')
    with open(path, encoding='utf-8') as f:
        try:
            return [json.loads(line) for line in f if line.strip()]
        except json.JSONDecodeError as err:
            raise DataError(f'{path}: not a JSON-lines log ({err})') from None


def run_name(path: str) -> str:
    path = path.rstrip('/')
    return os.path.basename(path if os.path.isdir(path) else os.path.dirname(path) or path)


def _numeric(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def available(runs) -> List[str]:
    """Every key a plot can ask for: plain fields and their kind-qualified forms."""
    keys = set()
    for _, rows in runs:
        for r in rows:
            for k, v in r.items():
                if k not in _NOT_KEYS and _numeric(v):
                    keys.update((k, f'{r.get("kind")}_{k}'))
    return sorted(keys)


def resolve(key: str, runs) -> Tuple[str, Optional[str]]:
    """``(field, kind or None)`` for a key; a ConfigError when no run logged it."""
    known = available(runs)
    if '/' in key:
        kind, field = key.split('/', 1)
        if f'{kind}_{field}' in known:
            return field, kind
    elif key in known:
        has_kind = [k for k in KINDS if key.startswith(f'{k}_')]
        plain = any(key in r for _, rows in runs for r in rows)
        if plain or not has_kind:
            return key, None
        return key[len(has_kind[0]) + 1:], has_kind[0]
    raise ConfigError(f'--keys: no run logged {key!r}{did_you_mean(key, known, n=3)} '
                      f'(logged: {", ".join(k for k in known if "_" not in k or k in KINDS)}'
                      f'; prefix train_, val_, epoch_ or summary_ for one kind of row)')


def _steps_per_epoch(rows) -> Optional[float]:
    ends = [r for r in rows if r.get('kind') in ('epoch', 'val') and r.get('epoch')]
    return ends[0]['step'] / ends[0]['epoch'] if ends else None


def series(rows: List[dict], field: str, kind: Optional[str], x: str) -> Series:
    """The points of ``field`` per (kind, ema), in file order."""
    per_epoch = _steps_per_epoch(rows) if x == 'epoch' else None
    out: Series = {}
    for r in rows:
        if not _numeric(r.get(field)) or (kind is not None and r.get('kind') != kind):
            continue
        if x == 'epoch' and per_epoch and 'step' in r:
            xv = r['step'] / per_epoch  # train rows fall between the epochs
        else:
            xv = r.get(x, r.get('step'))
        xs, ys = out.setdefault((r.get('kind', 'train'), bool(r.get('ema'))), ([], []))
        xs.append(xv)
        ys.append(r[field])
    return out


def _preferred_kind(rows: List[dict], field: str) -> Optional[str]:
    """For a summary of a field several kinds hold: validation first, then epoch means."""
    kinds = {r.get('kind') for r in rows if _numeric(r.get(field))}
    return next((k for k in ('val', 'epoch', 'train', 'summary') if k in kinds), None)


def summary(runs, key: str, rule: str = 'less') -> str:
    """One line per run: the best value of ``key``, its epoch, and the run's speed."""
    field, kind = resolve(key, runs)
    pick = min if rule == 'less' else max
    lines = [f'{"run":<24}{f"best {key}":>28}{"epoch":>8}{"steps/s":>10}{"samples/s":>11}'
             f'{"total s":>10}']
    for name, rows in runs:
        which = kind or _preferred_kind(rows, field)
        values = [(r[field], r.get('epoch')) for r in rows
                  if _numeric(r.get(field)) and r.get('kind') == which]
        best = pick(values, key=lambda v: v[0]) if values else (math.nan, None)
        end = next((r for r in reversed(rows) if r.get('kind') == 'summary'), {})
        lines.append(f'{name:<24}{best[0]:>28.6g}{str(best[1]):>8}'
                     f'{end.get("steps_per_s", math.nan):>10.2f}'
                     f'{end.get("samples_per_s", math.nan):>11.1f}'
                     f'{end.get("total_time", math.nan):>10.1f}')
    return '\n'.join(lines)


def plot(runs, keys: List[str], out: str, x: str = 'step', logy: bool = False,
         cols: Optional[int] = None) -> None:
    """One panel per key (``cols`` panels a row; all in one row by default), one line per run
    (and kind; EMA validation dashed)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    resolved = [resolve(key, runs) for key in keys]
    cols = min(cols or len(keys), len(keys))
    rows_of_panels = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows_of_panels, cols, figsize=(5 * cols, 3.6 * rows_of_panels),
                             squeeze=False)
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    colors = plt.rcParams['axes.prop_cycle'].by_key()['color']
    for ax, key, (field, kind) in zip(axes.flat, keys, resolved):
        for i, (name, rows) in enumerate(runs):
            lines = series(rows, field, kind, x)
            for (row_kind, ema), (xs, ys) in sorted(lines.items()):
                label = name + (f' {row_kind}' if len({k for k, _ in lines}) > 1 else '') + \
                    (' (EMA)' if ema else '')
                ax.plot(xs, ys, '--' if ema else _STYLE.get(row_kind, '-'), label=label,
                        color=colors[i % len(colors)], marker='o' if len(xs) == 1 else None)
        ax.set_title(key)
        ax.set_xlabel(x)
        if logy:
            ax.set_yscale('log')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('runs', nargs='+', help='work dirs or .jsonl files')
    parser.add_argument('--keys', nargs='+', default=['loss'],
                        help='JSON fields, optionally as val_<field> or val/<field>')
    parser.add_argument('--out', default='curves.png', help='picture file (.png, .pdf, .svg)')
    parser.add_argument('--x', choices=['step', 'epoch'], default='step')
    parser.add_argument('--logy', action='store_true', help='log-scale y axes')
    parser.add_argument('--cols', type=int, default=None,
                        help='panels per row (default: all keys in one row)')
    parser.add_argument('--summary', action='store_true', help='print a table instead')
    parser.add_argument('--rule', choices=['less', 'greater'], default='less',
                        help='which value is best in --summary')
    parser.add_argument('--debug', action='store_true', help='show tracebacks')
    args = parser.parse_args(argv)
    try:
        runs = [(run_name(p), load_rows(p)) for p in args.runs]
        if args.summary:
            for key in args.keys:
                print(summary(runs, key, args.rule))
            return 0
        check_output_path(args.out, '--out', picture=True)
        if args.cols is not None and args.cols < 1:
            raise ConfigError(f'--cols: expected a positive number of panels a row, got '
                              f'{args.cols}')
        plot(runs, args.keys, args.out, args.x, args.logy, args.cols)
    except Exception as err:  # noqa: BLE001
        return report_error(err, args.debug)
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
