"""tools/vis_scheduler.py: the CSV holds the LR/momentum each optimizer step of a real run uses,
and the plot is written."""
import csv
import math
import os

import pytest

from tools import vis_scheduler
from trainkit.config.load import load_config
from trainkit.engine.runner import Runner
from trainkit.hooks.hook import Hook

CONFIG = """
model = dict(type='MLP', in_features=4, hidden=[8])
train_dataloader = dict(dataset=dict(type='SyntheticRegression', num_samples=40, in_features=4),
                        batch_size=4, shuffle=True)
loss = dict(type='WeightedLoss', lossfn='mse', losses_weight=dict(y=1.0))
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                                    weight_decay=0.01),
                     paramwise_cfg=dict(custom_keys={'net.2': dict(lr_mult=0.1)}))
param_scheduler = [
    dict(type='LinearWarmup', warmup_epochs=3),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, convert_to_iter_based=True),
    dict(type='CosineAnnealingMomentum', eta_min=0.85, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=12)
default_hooks = dict(logger=None, checkpoint=None)
"""
ITERS, EPOCHS = 10, 12


class LRRecorder(Hook):
    def __init__(self):
        self.rows = []

    def before_train_iter(self, runner, batch_idx, batch):
        groups = runner.optim_wrapper.optimizer.param_groups
        self.rows.append([g['lr'] for g in groups] + [g['betas'][0] for g in groups])


@pytest.fixture(scope='module')
def outputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('vis')
    config = tmp / 'warmup_cosine.py'
    config.write_text(CONFIG + f'work_dir = {str(tmp / "run")!r}\n')
    png, dump = tmp / 'lr.png', tmp / 'lr.csv'
    code = vis_scheduler.main([str(config), '--iters-per-epoch', str(ITERS), '--save-path',
                               str(png), '--dump', str(dump)])
    assert code == 0
    with open(dump, newline='') as f:
        rows = list(csv.DictReader(f))
    return dict(config=config, png=png, rows=rows)


def test_csv_columns_and_values_equal_the_runner(outputs):
    rows = outputs['rows']
    assert list(rows[0]) == ['step', 'epoch', 'lr_g0', 'lr_g1', 'lr_g2', 'lr_g3',
                             'mom_g0', 'mom_g1', 'mom_g2', 'mom_g3']
    assert len(rows) == EPOCHS * ITERS
    assert [int(r['step']) for r in rows] == list(range(EPOCHS * ITERS))
    assert float(rows[25]['epoch']) == pytest.approx(2.5)

    recorder = LRRecorder()
    runner = Runner.from_cfg(load_config(str(outputs['config'])), device='cpu')
    runner.hooks.append(recorder)
    runner.train()
    assert len(recorder.rows) == len(rows)
    keys = [f'lr_g{i}' for i in range(4)] + [f'mom_g{i}' for i in range(4)]
    for step, (row, used) in enumerate(zip(rows, recorder.rows)):
        # the CSV goes through text: repr of a float round-trips exactly
        assert [float(row[k]) for k in keys] == pytest.approx(used, rel=1e-15), step


def test_csv_shows_warmup_dampening_the_cosine_from_step_zero(outputs):
    rows = outputs['rows']
    total, tau = EPOCHS * ITERS, 3 * ITERS
    for k, row in enumerate(rows):
        half_cos = 0.5 * (1 + math.cos(math.pi * k / total))
        omega = min(1, (k + 1) / tau)
        assert float(row['lr_g0']) == pytest.approx((1e-5 + (1e-3 - 1e-5) * half_cos) * omega,
                                                    rel=1e-9)
        # the head group (lr_mult 0.1) anneals from 1e-4 to the same eta_min
        assert float(row['lr_g2']) == pytest.approx((1e-5 + (1e-4 - 1e-5) * half_cos) * omega,
                                                    rel=1e-9)
        momentum = 0.85 + 0.5 * (0.9 - 0.85) * (1 + math.cos(math.pi * k / total))
        assert float(row['mom_g0']) == pytest.approx(momentum, rel=1e-9)
    peak = max(range(total), key=lambda k: float(rows[k]['lr_g0']))
    assert peak == tau - 1                   # the end of the warmup, below the base LR
    assert float(rows[peak]['lr_g0']) < 1e-3


def test_png_is_written(outputs):
    data = outputs['png'].read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 10_000


def test_epochs_option_and_bad_iters(tmp_path, outputs, capsys):
    dump = tmp_path / 'short.csv'
    assert vis_scheduler.main([str(outputs['config']), '--iters-per-epoch', str(ITERS),
                               '--epochs', '2', '--dump', str(dump)]) == 0
    with open(dump, newline='') as f:
        short = list(csv.DictReader(f))
    assert short == outputs['rows'][:2 * ITERS]       # the same schedule, cut at 2 epochs
    assert vis_scheduler.main([str(outputs['config']), '--iters-per-epoch', '0']) == 2
    assert '--iters-per-epoch: expected >= 1' in capsys.readouterr().err


def test_mistyped_required_option_is_named(outputs, capsys):
    with pytest.raises(SystemExit) as exit_info:
        vis_scheduler.main([str(outputs['config']), '--iter-per-epoch', '10'])
    assert exit_info.value.code == 2
    assert "required: --iters-per-epoch — did you mean '--iters-per-epoch' (not " \
           "--iter-per-epoch)?" in capsys.readouterr().err


@pytest.mark.parametrize('option,path,expect', [
    ('--save-path', 'nope/lr.png', "the folder '{tmp}/nope' does not exist"),
    ('--dump', 'nope/lr.csv', "the folder '{tmp}/nope' does not exist"),
    ('--save-path', 'lr.bmpx', "unsupported picture format 'bmpx'"),
])
def test_bad_output_path_exits_2_and_writes_nothing(outputs, tmp_path, capsys, option, path,
                                                    expect):
    before = sorted(os.listdir(tmp_path))
    code = vis_scheduler.main([str(outputs['config']), '--iters-per-epoch', str(ITERS), option,
                               str(tmp_path / path)])
    err = capsys.readouterr().err
    assert code == 2
    assert expect.format(tmp=tmp_path) in err and 'Traceback' not in err
    assert sorted(os.listdir(tmp_path)) == before
