"""Evaluate a checkpoint on a config's test data: what ``tools/test.py`` prints.

::

    results = evaluate_checkpoint(load_config('configs/spice.py'), 'spice-demo_last.pt')
    print(format_results(results))

Only the model, the test loader (``test_dataloader``), the loss and the metrics are built —
no training data, no optimizer — and the loop is the one validation runs
(:func:`trainkit.engine.evaluate.evaluate`), so on the same molecules the numbers are those
of ``Runner.val()``. The errors are in the data's frame (reference energies subtracted, as
the targets are), which is why the test data must subtract the reference energies the model
was trained with; this is checked.
"""
import math
from typing import Any, Dict, Optional

import torch

from trainkit.datasets.chemistry import symbol
from trainkit.engine.data import build_dataloader, check_loss_targets
from trainkit.engine.evaluate import evaluate
from trainkit.engine.from_cfg import prepare_config
from trainkit.engine.loss_and_metrics import build_loss, build_metrics
from trainkit.errors import ConfigError, DataError
from trainkit.interface.load import load_model

LENGTH_SYMBOLS = {'angstrom': 'Å', 'bohr': 'bohr'}
TEST_LOADER_EXAMPLE = ("test_dataloader = dict(dataset=dict(type='SpiceDataset', path=..., "
                       "split='test', test_fraction=0.1, ...), batch_size=128)")


def evaluate_checkpoint(cfg, checkpoint: str, ema: bool = True,
                    device: Optional[str] = None) -> Dict[str, Any]:
    """Metrics of ``checkpoint`` on ``cfg``'s ``test_dataloader``, with what they are about.

    Returns ``{'checkpoint', 'weights' ('EMA'|'raw'), 'epoch', 'metrics' {name: value},
    'molecules', 'conformations', 'units' {metric base name: unit}, 'dataset'}``.
    """
    plain = prepare_config(cfg)
    spec = plain.get('test_dataloader')
    if spec is None:
        raise ConfigError(f'test_dataloader: missing; the config needs one to test, e.g. '
                          f'{TEST_LOADER_EXAMPLE} (or --cfg-options '
                          f'test_dataloader.dataset.split=val to test on validation data)')
    model = load_model(checkpoint, ema=ema, device=device or plain.get('device'),
                       model=plain['model'])
    loader = build_dataloader(spec, 'test_dataloader', training=False,
                              generator=torch.Generator())
    loss = build_loss(plain.get('loss'))
    check_loss_targets(loss, loader, 'test_dataloader')
    metrics = build_metrics(plain.get('metrics'), loss)
    dataset = loader.dataset
    check_same_references(model, dataset)
    tensor = next(iter(model.state_dict().values()), None)
    device = tensor.device if tensor is not None else torch.device('cpu')
    values = evaluate(model, loader, metrics, loss, device)
    info = model.checkpoint_info
    return {'checkpoint': str(checkpoint), 'weights': info['weights'], 'epoch': info['epoch'],
            'metrics': values, 'molecules': _molecules(dataset), 'conformations': len(dataset),
            'units': units_of(dataset), 'dataset': _describe(dataset)}


def check_same_references(model, dataset) -> None:
    """The test data must subtract the reference energies the model was trained with."""
    info = getattr(dataset, 'data_info', None)
    stored = getattr(model, 'reference_energies', None)
    if not callable(info) or stored is None or not model.checkpoint_info['has_data_info']:
        return
    data = info()
    present = sorted({int(z) for zs in getattr(dataset, 'numbers', []) for z in zs})
    wrong = []
    for z in present:
        theirs = float(data['reference_energies'].get(z, 0.0))
        ours = float(stored[z]) if z < len(stored) else math.nan
        if not math.isclose(theirs, ours, rel_tol=1e-9, abs_tol=1e-9):
            wrong.append(f'{symbol(z)}: data {theirs:.6f}, model {ours:.6f}')
    if wrong:
        raise DataError(f'the test data subtracts other reference energies than the model was '
                        f'trained with ({"; ".join(wrong)}, in {data.get("energy_unit")}), so '
                        f'its energy errors would be meaningless; give the test dataset the '
                        f"training data's reference_energies, seed, val_fraction, "
                        f'test_fraction, max_molecules and elements')


def units_of(dataset) -> Dict[str, str]:
    """Units of the metric bases (``energy``, ``energy_per_atom``, ``forces``) of a dataset
    that names its units (``energy_unit``, ``length_unit``); empty otherwise."""
    energy, length = getattr(dataset, 'energy_unit', None), getattr(dataset, 'length_unit', None)
    if energy is None or length is None:
        return {}
    length = LENGTH_SYMBOLS.get(length, length)
    return {'energy': energy, 'energy_per_atom': f'{energy}/atom',
            'forces': f'{energy}/{length} per component'}


def _molecules(dataset) -> Optional[int]:
    names = getattr(dataset, 'names', None)
    return len(names) if names is not None else None


def _describe(dataset) -> str:
    path, split = getattr(dataset, 'path', None), getattr(dataset, 'split', None)
    return ' '.join([type(dataset).__name__] + ([str(path)] if path else []) +
                    ([f'split={split!r}'] if split else []))


def format_results(results: Dict[str, Any]) -> str:
    """The table ``tools/test.py`` prints: per target MAE and RMSE with units, then the
    weighted MAE and the loss."""
    metrics, units = results['metrics'], results['units']
    epoch = f', epoch {results["epoch"]}' if results.get('epoch') is not None else ''
    count = results['molecules']
    molecules = '' if count is None else f'{count} molecule{"s" if count != 1 else ""}, '
    lines = [f'Test of {results["checkpoint"]} ({results["weights"]} weights{epoch})',
             f'  data: {results["dataset"]}: {molecules}{results["conformations"]} '
             f'conformations',
             f'  {"target":<18}{"MAE":>12}{"RMSE":>12}  unit']
    bases = [k[:-len('_mae')] for k in metrics if k.endswith('_mae') and k != 'weighted_mae']
    for base in bases:
        rmse = metrics.get(f'{base}_rmse')
        lines.append(f'  {base.replace("_", " "):<18}{metrics[base + "_mae"]:>12.6g}'
                     f'{rmse if rmse is not None else float("nan"):>12.6g}  '
                     f'{units.get(base, "")}'.rstrip())
    if 'weighted_mae' in metrics:
        lines.append(f'  {"weighted MAE":<18}{metrics["weighted_mae"]:>12.6g}'
                     f'{"":>12}  Σ w·MAE over losses_weight')
    if 'loss' in metrics:
        lines.append(f'  {"loss":<18}{metrics["loss"]:>12.6g}{"":>12}  mean over batches')
    return '\n'.join(lines)
