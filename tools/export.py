"""Export a checkpoint as a TorchScript module that runs without trainkit.

    python tools/export.py work_dirs/spice-demo/spice-demo_last.pt --out model.pt

then, anywhere with torch::

    model = torch.jit.load('model.pt')
    energy, forces = model(atomic_numbers, positions)   # (N,) int64, (N, 3) Å -> eV, eV/Å

Bad input exits with code 2 and a message (``--debug`` shows the traceback).
"""
import argparse
import os
import sys
from typing import List, Optional

if __package__ in (None, ''):  # run as a script from a source checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trainkit.cli import ArgumentParser, report_error  # noqa: E402
from trainkit.utils.output_path import check_output_path  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = ArgumentParser(description='Export the potential of a trainkit checkpoint as '
                                        'TorchScript: model(atomic_numbers, positions) -> '
                                        '(energy eV, forces eV/Å).')
    parser.add_argument('checkpoint', help='checkpoint file, e.g. work_dirs/run/run_last.pt')
    parser.add_argument('--out', required=True, help='the TorchScript file to write')
    parser.add_argument('--ema', action=argparse.BooleanOptionalAction, default=True,
                        help='export the EMA weights when the checkpoint has them (default)')
    parser.add_argument('--dtype', choices=('float32', 'float64'),
                        help='dtype of the exported weights (default: as trained)')
    parser.add_argument('--debug', action='store_true', help='show tracebacks of errors')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        from trainkit.interface.export import export_torchscript
        check_output_path(args.out, '--out')
        info = export_torchscript(args.checkpoint, args.out, ema=args.ema, dtype=args.dtype)
        print(f'Exported the {info["weights"]} weights of {args.checkpoint} (epoch '
              f'{info["epoch"]}) to {args.out}: torch.jit.load({args.out!r})(atomic_numbers, '
              f'positions) -> (energy eV, forces eV/Å)')
    except Exception as err:  # noqa: BLE001 - user errors become exit code 2
        return report_error(err, args.debug)
    return 0


if __name__ == '__main__':
    sys.exit(main())
