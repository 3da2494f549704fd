"""Search hyper-parameters with Optuna: every trial is a normal run in {work_dir}/trials/<n>/.

    python tools/search.py configs/spice_search.py                  # the config's `search`
    python tools/search.py configs/spice.py --search my_search.py   # a `search` from a file
    python tools/search.py configs/spice_search.py --resume         # continue after Ctrl-C
    python tools/search.py configs/spice_search.py --storage postgresql://u:p@host/db  # many
                                                       # machines: run the same line on each

The study lives in {work_dir}/search.db (SQLite) unless --storage names another. At the end:
the trial table (also search_results.csv/.json), best_config.py (runs with tools/train.py) and
the plots. Bad input exits with code 2 before the first trial (see docs/tuning.md).
"""
import argparse
import os
import signal
import sys
from typing import List, Optional

if __package__ in (None, ''):  # run as a script from a source checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trainkit.cli import ArgumentParser, report_error, report_interrupt  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ArgumentParser(description='Hyper-parameter search over a trainkit config.')
    parser.add_argument('config', help='config file; its `search` section drives the search')
    parser.add_argument('--search', metavar='FILE',
                        help='a file holding `search = dict(...)` (replaces the config\'s)')
    parser.add_argument('--storage', metavar='URL',
                        help='Optuna storage: sqlite:///PATH (default {work_dir}/search.db), '
                             'postgresql://..., mysql+pymysql://..., or journal:PATH')
    parser.add_argument('--study-name', help='defaults to search.study_name, else run_name')
    parser.add_argument('--resume', action='store_true',
                        help='continue a stopped search (an interrupted trial runs again; '
                             'a larger --n-trials adds trials)')
    parser.add_argument('--n-trials', type=int, help='overrides search.n_trials')
    parser.add_argument('--work-dir', help='overrides work_dir (trials go under it)')
    parser.add_argument('--cfg-options', nargs='+', default=[], action='extend',
                        metavar='KEY=VALUE', help='override config values of every trial')
    parser.add_argument('--debug', action='store_true', help='show tracebacks of errors')
    return parser.parse_args(argv)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f'signal {signum}')


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        import optuna

        from trainkit.config.load import load_config
        from trainkit.engine.from_cfg import to_plain_dict
        from trainkit.errors import ConfigError
        from trainkit.tuning.preflight import check_before_trials
        from trainkit.tuning.results import (
            best_trial,
            format_table,
            trial_rows,
            write_best_config,
            write_plots,
            write_results,
        )
        from trainkit.tuning.settings import read_search
        from trainkit.tuning.study import (
            build_pruner,
            build_sampler,
            default_storage,
            open_storage,
            open_study,
        )
        from trainkit.tuning.worker import work
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # each trial is reported below
        cfg = load_config(args.config, args.cfg_options)
        if args.work_dir is not None:
            cfg['work_dir'] = args.work_dir
        section = cfg.get('search')
        if args.search:
            section = load_config(args.search).get('search')
            if section is None:
                raise ConfigError(f'--search {args.search}: the file has no `search = dict(...)`')
        if section is not None and hasattr(section, 'to_dict'):
            section = section.to_dict()
        settings = read_search(section, to_plain_dict(cfg), args.n_trials)
        work_dir = cfg.get('work_dir') or f'work_dirs/{cfg.get("run_name", "trainkit")}'
        max_epochs = check_before_trials(cfg, settings, os.path.join(work_dir, 'trials', 'check'))
        name = args.study_name or settings.study_name or cfg.get('run_name') or 'trainkit'
        os.makedirs(work_dir, exist_ok=True)
        storage = open_storage(args.storage or default_storage(work_dir),
                               settings.heartbeat_interval)
        seed = settings.seed if settings.seed is not None else cfg.get('seed')
        study, created = open_study(settings, storage, name, build_sampler(settings, seed),
                                    build_pruner(settings, max_epochs), resume=args.resume)
        if not created:
            from trainkit.tuning.study import queued, running
            waiting, busy = queued(study), len(running(study))
            if not args.resume and not waiting and not busy:
                raise ConfigError(
                    f'study {name!r} in {args.storage or default_storage(work_dir)} is already '
                    f'finished ({settings.n_trials} trials); to run more, give --resume with a '
                    f'larger --n-trials; to start over, use another --study-name or work dir')
            if seed is not None and not settings.is_grid:
                # a second worker must not draw the same values as the first
                study.sampler = build_sampler(settings, seed + os.getpid())
            print(f'{"resuming" if args.resume else "joined"} study {name!r}: {waiting} '
                  f'trial(s) queued, {busy} running')
        else:
            print(f'study {name!r}: {settings.n_trials} trials, {settings.sampler["type"]} '
                  f'sampler, {settings.pruner["type"]} pruner, {settings.metric} '
                  f'({settings.direction}), up to {max_epochs} epochs each')
        signal.signal(signal.SIGTERM, _interrupt)
        work(study, cfg, settings, work_dir, resume=args.resume)
        rows = trial_rows(study)
        best = best_trial(study)
        print(format_table(rows, settings.metric, best.number if best else None))
        paths = write_results(rows, study, work_dir)
        config_path = write_best_config(cfg, study, settings, work_dir)
        paths += write_plots(study, work_dir)
        if best is None:
            print('no trial completed: nothing to recommend')
        else:
            print(f'best trial {best.number}: {settings.metric} {best.value:.6g} with '
                  f'{best.params}\n  run it: python tools/train.py {config_path}')
        print('written: ' + ', '.join(paths))
    except KeyboardInterrupt as err:
        return report_interrupt(err, args.debug, 'finished trials are kept in the study and '
                                'the interrupted one is queued again; continue with --resume')
    except Exception as err:  # noqa: BLE001 - user errors become exit code 2
        return report_error(err, args.debug)
    return 0


if __name__ == '__main__':
    sys.exit(main())
