"""What a search found: the trial table (printed, ``search_results.csv`` / ``.json``), the best
trial's ready-to-run config and Optuna's plots.

::

    rows = trial_rows(study)
    print(format_table(rows, 'weighted_mae'))
    write_results(rows, study, 'work_dirs/s')          # search_results.csv / .json
    write_best_config(base_cfg, study, settings, 'work_dirs/s')   # best_config.py
    write_plots(study, 'work_dirs/s')                  # optimization_history.png, ...
"""
import csv
import json
import math
import os
from typing import Any, Dict, List, Optional

from trainkit.tuning.settings import SearchSettings
from trainkit.tuning.trial import trial_config, trial_seed

RESULTS_FILE = 'search_results'
BEST_CONFIG_FILE = 'best_config.py'
BEST_WORK_DIR = 'best'
PLOTS = {'optimization_history.png': 'plot_optimization_history',
         'param_importances.png': 'plot_param_importances'}


def trial_rows(study) -> List[Dict[str, Any]]:
    """One row per trial (queued ones left out): number, state, value, epochs, params, ..."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state.name == 'WAITING':
            continue
        value = t.value if t.state.name == 'COMPLETE' else t.user_attrs.get('value')
        rows.append({'number': t.number, 'state': t.state.name, 'value': value,
                     'best_epoch': t.user_attrs.get('best_epoch'),
                     'epochs': t.user_attrs.get('epochs'), 'params': dict(t.params),
                     'work_dir': t.user_attrs.get('work_dir'),
                     'retry_of': t.user_attrs.get('retry_of'),
                     'error': t.user_attrs.get('error')})
    return rows


def best_trial(study):
    """The best completed trial, or None (Optuna raises when there is none)."""
    if not any(t.state.name == 'COMPLETE' for t in study.get_trials(deepcopy=False)):
        return None
    return study.best_trial


def _cell(value: Any) -> str:
    if value is None:
        return '-'
    if isinstance(value, float):
        return 'nan' if math.isnan(value) else f'{value:.6g}'
    return str(value)


def format_table(rows: List[Dict[str, Any]], metric: str, best_number: Optional[int] = None,
                 ) -> str:
    keys = sorted({k for row in rows for k in row['params']})
    head = ['#', 'state', metric, 'epochs', *keys]
    body = [[_cell(r['number']) + ('*' if r['number'] == best_number else ''), r['state'],
             _cell(r['value']), _cell(r['epochs']), *[_cell(r['params'].get(k)) for k in keys]]
            for r in rows]
    widths = [max(len(str(x)) for x in column) for column in zip(head, *body)]
    lines = ['  '.join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip()
             for line in [head, *body]]
    return '\n'.join(lines)


def write_results(rows: List[Dict[str, Any]], study, work_dir: str) -> List[str]:
    """``search_results.json`` (the study's summary and every row) and ``.csv`` (one column
    per parameter); returns the paths."""
    best = best_trial(study)
    path_json = os.path.join(work_dir, RESULTS_FILE + '.json')
    summary = {'study_name': study.study_name, 'direction': study.direction.name.lower(),
               'best': None if best is None else {'number': best.number, 'value': best.value,
                                                  'params': best.params},
               'trials': rows}
    with open(path_json, 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=2, default=str)
    keys = sorted({k for row in rows for k in row['params']})
    path_csv = os.path.join(work_dir, RESULTS_FILE + '.csv')
    fields = ['number', 'state', 'value', 'best_epoch', 'epochs', *keys, 'work_dir', 'retry_of',
              'error']
    with open(path_csv, 'w', encoding='utf-8', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            flat = {k: v for k, v in row.items() if k != 'params'}
            writer.writerow({**flat, **{k: row['params'].get(k) for k in keys}})
    return [path_csv, path_json]


def write_best_config(base_cfg, study, settings: SearchSettings, work_dir: str
                      ) -> Optional[str]:
    """The best trial's config as ``best_config.py``: the base config with its values, the
    trial's epochs and seed, and ``work_dir`` at ``{work_dir}/best`` (so that running it
    never touches the trial's own folder). None when no trial completed."""
    best = best_trial(study)
    if best is None:
        return None
    cfg = trial_config(base_cfg, best.params, os.path.join(work_dir, BEST_WORK_DIR),
                       settings.epochs_per_trial, trial_seed(base_cfg, settings))
    path = os.path.join(work_dir, BEST_CONFIG_FILE)
    header = (f'# The best trial ({best.number}) of study {study.study_name!r}: '
              f'{settings.metric} = {best.value!r}\n'
              f'# parameters: {best.params}\n'
              f'#   python tools/train.py {path}\n')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(header + cfg.pretty_text)
    return path


def write_plots(study, work_dir: str) -> List[str]:
    """Optuna's optimisation history and parameter importances as PNGs; returns the paths
    written (none without matplotlib, importances only with two finished trials or more)."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        from optuna.visualization import matplotlib as optuna_plots
    except ImportError:
        return []
    import warnings
    finished = [t for t in study.get_trials(deepcopy=False) if t.state.name == 'COMPLETE']
    written = []
    for name, function in PLOTS.items():
        if not finished or (name.startswith('param') and (len(finished) < 2 or
                                                         not finished[0].params)):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # Optuna marks its matplotlib plots experimental
            try:
                axes = getattr(optuna_plots, function)(study)
            except (ValueError, RuntimeError):  # e.g. importances of a constant objective
                continue
        path = os.path.join(work_dir, name)
        axes.figure.savefig(path, dpi=100, bbox_inches='tight')
        plt.close(axes.figure)
        written.append(path)
    return written
