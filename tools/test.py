"""Test a checkpoint on the config's test data: parse → load config → evaluate → print.

    python tools/test.py configs/spice.py work_dirs/spice-demo/spice-demo_last.pt
    python tools/test.py configs/spice.py CKPT --no-ema --out results.json
    python tools/test.py configs/spice.py CKPT --cfg-options test_dataloader.dataset.split=val

Builds only the model (weights from CKPT, the EMA weights when it has them), the
``test_dataloader``, the loss and the metrics; prints MAE and RMSE per target with units.
Bad input exits with code 2 and a message (``--debug`` shows the traceback).
"""
import argparse
import json
import os
import sys
from typing import List, Optional

if __package__ in (None, ''):  # run as a script from a source checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trainkit.cli import ArgumentParser, report_error, report_interrupt  # noqa: E402
from trainkit.utils.output_path import check_output_path  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ArgumentParser(description='Evaluate a checkpoint on the test_dataloader of a '
                                        'trainkit config.')
    parser.add_argument('config', help='config file (.py, .yaml or .json)')
    parser.add_argument('checkpoint', help='checkpoint file, e.g. work_dirs/run/run_last.pt')
    parser.add_argument('--ema', action=argparse.BooleanOptionalAction, default=True,
                        help='use the EMA weights when the checkpoint has them (default); '
                             '--no-ema: the raw weights')
    parser.add_argument('--out', metavar='JSON', help='also write the results to this file')
    parser.add_argument('--device', help="'cpu', 'cuda', ... (default: the config's, else "
                                         'CUDA when available)')
    parser.add_argument('--cfg-options', nargs='+', default=[], action='extend',
                        metavar='KEY=VALUE',
                        help='override config values, e.g. test_dataloader.batch_size=64')
    parser.add_argument('--custom-imports', nargs='+', default=[], metavar='MODULE',
                        help='modules to import first (where your components are registered)')
    parser.add_argument('--debug', action='store_true', help='show tracebacks of errors')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        from trainkit.config.load import import_custom_modules, load_config
        from trainkit.interface.evaluation import evaluate_checkpoint, format_results
        if args.out:
            check_output_path(args.out, '--out')
        cfg = load_config(args.config, args.cfg_options)
        import_custom_modules(cfg, args.custom_imports)
        results = evaluate_checkpoint(cfg, args.checkpoint, ema=args.ema, device=args.device)
        print(format_results(results))
        if args.out:
            with open(args.out, 'w', encoding='utf-8') as f:
                json.dump(results, f, indent=2)
            print(f'Results written to {args.out}')
    except KeyboardInterrupt as err:
        return report_interrupt(err, args.debug)
    except Exception as err:  # noqa: BLE001 - user errors become exit code 2
        return report_error(err, args.debug)
    return 0


if __name__ == '__main__':
    sys.exit(main())
