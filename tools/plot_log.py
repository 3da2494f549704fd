"""Plot logged keys of one or several runs side by side, or print a summary table.

::

    python tools/plot_log.py work_dirs/a work_dirs/b --keys loss val_weighted_mae --out curves.png
    python tools/plot_log.py work_dirs/a/loss.jsonl --keys lr --logy --x epoch
    python tools/plot_log.py work_dirs/a work_dirs/b --summary --keys val_weighted_mae

A run is a work dir (its ``*.jsonl``) or a JSON-lines file; the legend shows the run names.
Validation rows of the EMA weights (``kind`` ``ema_val`` or an ``ema`` flag) are dashed.
"""
import argparse
import glob
import json
import os
import sys


def load_rows(path):
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, '*.jsonl')))
        if not files:
            sys.exit(f'plot_log: no *.jsonl in {path}')
        path = files[0]
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def run_name(path):
    path = path.rstrip('/')
    return os.path.basename(path if os.path.isdir(path) else os.path.dirname(path) or path)


def series(rows, key, x):
    """{'raw': (xs, ys), 'ema': (xs, ys)} for one key."""
    out = {}
    for r in rows:
        if key not in r or not isinstance(r[key], (int, float)):
            continue
        kind = 'ema' if (r.get('ema') or str(r.get('kind', '')).startswith('ema')) else 'raw'
        xs, ys = out.setdefault(kind, ([], []))
        xs.append(r.get(x, r.get('step')))
        ys.append(r[key])
    return out


def summary(runs, key):
    lines = [f'{"run":<24}{"best " + key:>24}{"epoch":>8}{"steps/s":>10}{"total s":>10}']
    for name, rows in runs:
        vals = [(r[key], r.get('epoch')) for r in rows if isinstance(r.get(key), (int, float))]
        best = min(vals) if vals else (float('nan'), None)
        end = next((r for r in reversed(rows) if r.get('kind') == 'summary'), {})
        lines.append(f'{name:<24}{best[0]:>24.6g}{str(best[1]):>8}'
                     f'{end.get("steps_per_s", float("nan")):>10.2f}'
                     f'{end.get("total_time", float("nan")):>10.1f}')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('runs', nargs='+', help='work dirs or .jsonl files')
    parser.add_argument('--keys', nargs='+', default=['loss'])
    parser.add_argument('--out', default='curves.png')
    parser.add_argument('--x', choices=['step', 'epoch'], default='step')
    parser.add_argument('--logy', action='store_true')
    parser.add_argument('--summary', action='store_true', help='print a table instead')
    args = parser.parse_args(argv)
    runs = [(run_name(p), load_rows(p)) for p in args.runs]
    if args.summary:
        for key in args.keys:
            print(summary(runs, key))
        return 0
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(args.keys), figsize=(5 * len(args.keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], args.keys):
        for name, rows in runs:
            for kind, (xs, ys) in series(rows, key, args.x).items():
                ax.plot(xs, ys, '--' if kind == 'ema' else '-',
                        label=name + (' (EMA)' if kind == 'ema' else ''))
        ax.set_title(key)
        ax.set_xlabel(args.x)
        if args.logy:
            ax.set_yscale('log')
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
