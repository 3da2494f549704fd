"""Losses and metrics against values computed by hand."""
import math

import pytest
import torch

from trainkit.errors import ConfigError, DataError
from trainkit.losses import WeightedLoss
from trainkit.metrics import ErrorMetrics
from trainkit.registry import LOSSES, lookup


def test_smoothl1_is_torchs_definition_not_the_swapped_one():
    fn = lookup(LOSSES, 'SmoothL1')(beta=1.0)
    pred, target = torch.tensor([0.5, 3.0]), torch.zeros(2)
    # 0.5·x²/β below β, |x| − 0.5·β above: (0.125 + 2.5) / 2
    assert float(fn(pred, target)) == pytest.approx((0.5 * 0.25 + (3.0 - 0.5)) / 2)
    half = lookup(LOSSES, 'smoothl1')(beta=0.5)
    assert float(half(torch.tensor([0.25]), torch.zeros(1))) == pytest.approx(0.5 * 0.0625 / 0.5)


@pytest.mark.parametrize('name, expected', [
    ('mae', (1 + 2 + 3) / 3), ('L1', 2.0), ('MSE', (1 + 4 + 9) / 3), ('l2', 14 / 3)])
def test_element_losses_case_insensitive(name, expected):
    fn = lookup(LOSSES, name)()
    assert float(fn(torch.tensor([1.0, -2.0, 3.0]), torch.zeros(3))) == pytest.approx(expected)


def test_weighted_loss_sums_weighted_terms_and_reports_each():
    loss = WeightedLoss(lossfn='mse', losses_weight=dict(energy=1.0, forces=100.0))
    preds = {'energy': torch.tensor([1.0, 2.0]), 'forces': torch.ones(3, 3)}
    batch = {'energy': torch.tensor([0.0, 0.0]), 'forces': torch.zeros(3, 3)}
    out = loss(preds, batch)
    assert float(out['energy']) == pytest.approx(2.5)
    assert float(out['forces']) == pytest.approx(1.0)
    assert float(out['loss']) == pytest.approx(2.5 + 100.0)
    assert list(out) == ['loss', 'energy', 'forces']


def test_weighted_loss_errors():
    loss = WeightedLoss(losses_weight=dict(energy=1.0))
    with pytest.raises(DataError, match=r"'energy' .* missing in the batch; the batch has "
                                        r"\['forces'\]"):
        loss({'energy': torch.zeros(2)}, {'forces': torch.zeros(2)})
    with pytest.raises(DataError, match=r'shape \(2,\) but the batch has \(2, 1\)'):
        loss({'energy': torch.zeros(2)}, {'energy': torch.zeros(2, 1)})
    with pytest.raises(ConfigError, match=r"'smoothl2' is not a registered loss — did you mean"):
        WeightedLoss(lossfn='smoothl2', losses_weight=dict(energy=1.0))
    with pytest.raises(ConfigError, match='expected a number >= 0'):
        WeightedLoss(losses_weight=dict(energy=-1.0))


def test_metrics_over_batches_are_exact_sums_not_averages_of_averages():
    metrics = ErrorMetrics()
    metrics.bind_loss_weights(dict(energy=2.0, forces=10.0))
    # batch 1: two molecules of 2 and 3 atoms; batch 2: one molecule of 1 atom
    batches = [
        ({'energy': torch.tensor([1.0, -2.0]), 'forces': torch.tensor([[1.0, 0, 0]] * 5)},
         {'energy': torch.zeros(2), 'forces': torch.zeros(5, 3),
          'n_atoms': torch.tensor([2.0, 3.0])}),
        ({'energy': torch.tensor([4.0]), 'forces': torch.tensor([[0.0, -3.0, 0]])},
         {'energy': torch.zeros(1), 'forces': torch.zeros(1, 3), 'n_atoms': torch.tensor([1.0])}),
    ]
    for preds, batch in batches:
        metrics.update(preds, batch)
    got = metrics.compute()
    force_components = [1.0] * 5 + [0.0] * 10 + [3.0] + [0.0] * 2  # per component: 18 values
    per_atom = [1.0 / 2, -2.0 / 3, 4.0 / 1]
    assert got['energy_mae'] == pytest.approx((1 + 2 + 4) / 3)  # not (1.5 + 4) / 2
    assert got['energy_rmse'] == pytest.approx(math.sqrt((1 + 4 + 16) / 3))  # root, not MSE
    assert got['forces_mae'] == pytest.approx(sum(force_components) / 18)
    assert got['forces_rmse'] == pytest.approx(math.sqrt(sum(x * x for x in force_components)
                                                         / 18))
    assert got['energy_per_atom_mae'] == pytest.approx(sum(map(abs, per_atom)) / 3)
    assert got['energy_per_atom_rmse'] == pytest.approx(math.sqrt(sum(x * x for x in per_atom)
                                                                  / 3))
    assert got['weighted_mae'] == pytest.approx(2.0 * 7 / 3 + 10.0 * 8 / 18)
    assert sorted(got) == sorted(metrics.metric_names())


def test_metrics_name_a_missing_target():
    metrics = ErrorMetrics(targets=['energy'])
    with pytest.raises(DataError, match=r"'energy' is missing in the predictions; it has "
                                        r"\['forces'\]"):
        metrics.update({'forces': torch.zeros(1)}, {'energy': torch.zeros(1)})
