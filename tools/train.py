"""Train from a config: parse → load and validate → build the Runner → train.

    python tools/train.py configs/spice.py --cfg-options optim_wrapper.optimizer.lr=1e-3
    python tools/train.py configs/spice.py --resume            # continue {run_name}_last.pt
    python tools/train.py configs/spice.py --dry-run           # build, print, exit

Bad input exits with code 2 and a message (``--debug`` shows the traceback); a run stopped by
SIGTERM or SIGUSR1 saves a checkpoint and exits with 75 (continue it with ``--resume``).
"""
import argparse
import os
import shlex
import sys
from typing import List, Optional

if __package__ in (None, ''):  # run as a script from a source checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trainkit.cli import (  # noqa: E402
    LAUNCHERS,
    ArgumentParser,
    apply_cli_overrides,
    dry_run,
    report_error,
    report_interrupt,
    settle_auto_resume,
    setup_launcher,
)
from trainkit.errors import Preempted  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ArgumentParser(description='Train a model from a trainkit config.')
    parser.add_argument('config', help='config file (.py, .yaml or .json)')
    parser.add_argument('--work-dir', help='where logs and checkpoints go (overrides work_dir)')
    parser.add_argument('--cfg-options', nargs='+', default=[], action='extend',
                        metavar='KEY=VALUE',
                        help='override config values, e.g. optim_wrapper.optimizer.lr=1e-3 '
                             'param_scheduler.0.end=5 run_name="\'007\'" (given twice, '
                             'both are applied in order)')
    parser.add_argument('--resume', nargs='?', const=True, default=None, metavar='CKPT',
                        help='continue a run: from CKPT, or (bare) from '
                             '{work_dir}/{run_name}_last.pt; "auto" (MMEngine): from that file '
                             'if it exists, else from scratch')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision (bf16 on CPU; fp16 with loss scaling on CUDA)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the LR by the total batch size (auto_scale_lr.enable=True; '
                             'the config gives base_batch_size)')
    parser.add_argument('--no-validate', action='store_true',
                        help='train without validation (val_dataloader=None)')
    parser.add_argument('--launcher', choices=LAUNCHERS, default=None,
                        help='how the processes were started: none (one), pytorch (torchrun), '
                             'slurm (srun); left out: torchrun\'s environment if there is one')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=None,
                        help='set by torch.distributed.launch (LOCAL_RANK)')
    parser.add_argument('--seed', type=int, help='random seed (overrides seed)')
    parser.add_argument('--custom-imports', nargs='+', default=[], metavar='MODULE',
                        help='modules to import first (where your components are registered)')
    parser.add_argument('--dry-run', action='store_true',
                        help='build everything, print the resolved config, parameter groups '
                             'and first learning rates, then exit without training')
    parser.add_argument('--debug', action='store_true', help='show tracebacks of config errors')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        from trainkit.config.load import import_custom_modules, load_config
        from trainkit.datasets.spice_demo import demo_writes_to_temp
        from trainkit.engine.runner import Runner
        from trainkit.utils.dist import shutdown_distributed
        setup_launcher(args.launcher, args.local_rank)
        cfg = load_config(args.config, args.cfg_options)
        import_custom_modules(cfg, args.custom_imports)
        apply_cli_overrides(cfg, args)
        if args.dry_run:  # writes nothing: a missing demo data file goes to a temp folder
            with demo_writes_to_temp():
                runner = Runner.from_cfg(cfg)
                settle_auto_resume(runner, args)
                dry_run(runner, cfg)
            return 0
        runner = Runner.from_cfg(cfg)
        settle_auto_resume(runner, args)
        runner.train()
        del runner  # its DDP wrapper holds the process group
        shutdown_distributed()
    except Preempted as stop:  # SIGTERM/SIGUSR1: the checkpoint at this step is on disk
        again = [] if args.resume else ['--resume']
        print(f'{stop}\nto continue: {shlex.join([sys.executable, *sys.argv, *again])}',
              file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt as err:
        return report_interrupt(err, args.debug, 'the checkpoints written so far are intact; '
                                'continue the run with --resume')
    except Exception as err:  # noqa: BLE001 - user errors become exit code 2
        return report_error(err, args.debug)
    return 0


if __name__ == '__main__':
    sys.exit(main())
