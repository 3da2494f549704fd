"""Runtime and schedule files of four OpenMMLab projects run unchanged under a trainkit model
and data: they load, train a few steps, and print one line for each key not used."""
import os

import pytest
import torch

from tests.config.mmengine.support import build, rows
from tests.support.configs import ROOT
from trainkit.config.load import load_config
from trainkit.engine.from_cfg import prepare_config
from trainkit.errors import ConfigError

SHORT = "train_cfg = dict(max_epochs=2)\n"
# the segmentation files also with the epoch loop (their own IterBasedTrainLoop is tested
# below); the rest of the files as written
SEG_EPOCHS = ("train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=2)\n"
              "default_hooks = dict(checkpoint=dict(_delete_=True, type='CheckpointHook'))\n"
              "param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=8, "
              "by_epoch=False)]\n")
# (project, bases, extra user lines, notices expected: their config paths)
PROJECTS = [
    ('classification', ['mmpretrain/default_runtime.py', 'mmpretrain/schedules/imagenet_bs256.py'],
     SHORT, ['default_hooks.timer', 'default_hooks.visualization']),
    ('classification-coswd', ['mmpretrain/default_runtime.py',
                              'mmpretrain/schedules/imagenet_bs256_coslr_coswd_300e.py'],
     SHORT, ['default_hooks.timer', 'default_hooks.visualization']),
    ('classification-swin', ['mmpretrain/default_runtime.py',
                             'mmpretrain/schedules/imagenet_bs1024_adamw_swin.py'],
     # its warmup lasts 20 epochs and the cosine begins after it: both shortened; a model with
     # the Swin position tables its custom_keys name (an MLP has none: see the test below)
     SHORT + "model = dict(type='SwinLikeMLP', in_features=4, hidden=[16])\n"
     "param_scheduler = [\n"
     "    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=1,\n"
     "         convert_to_iter_based=True),\n"
     "    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1)]\n",
     ['default_hooks.timer', 'default_hooks.visualization']),
    ('detection', ['mmdet/default_runtime.py', 'mmdet/schedule_1x.py'], SHORT,
     ['default_hooks.timer', 'default_hooks.visualization', 'log_processor']),
    ('segmentation', ['mmseg/default_runtime.py', 'mmseg/schedule_20k.py'], SEG_EPOCHS,
     ['default_hooks.timer', 'default_hooks.visualization', 'log_processor',
      'default_hooks.logger.log_metric_by_epoch', 'helper variables']),
    ('pose', ['mmpose/td-hm_adam-210e.py'], SHORT,
     ['default_hooks.timer', 'default_hooks.visualization', 'default_hooks.badcase',
      'log_processor', 'helper variables']),
]


@pytest.mark.parametrize('name, bases, extra, expected', PROJECTS,
                         ids=[p[0] for p in PROJECTS])
def test_project_files_train_unchanged(tmp_path, capsys, name, bases, extra, expected):
    runner, notices = build(tmp_path, bases, extra, capsys=capsys)
    where = [line.split(': ', 1)[0] for line in notices]
    for path in expected:
        assert path in where, notices
    assert len(where) == len(set(where)), 'a notice printed twice'
    runner.train()
    assert runner.epoch == 2 and runner.step == 8
    assert os.path.isfile(os.path.join(runner.work_dir, 'trainkit_last.pt'))
    # validation every val_interval epochs and after the last (MMPose's schedule: every 10)
    assert len(rows(runner.work_dir, 'val')) == (2 if runner.val_interval == 1 else 1)


def test_swin_custom_keys_matching_no_parameter_of_the_model_are_an_error(tmp_path):
    """custom_keys that select nothing would leave the user's decay_mult unapplied: refused,
    naming the keys and the model's modules (MMEngine ignores them silently)."""
    with pytest.raises(ConfigError) as err:
        build(tmp_path, ['mmpretrain/default_runtime.py',
                         'mmpretrain/schedules/imagenet_bs1024_adamw_swin.py'], SHORT)
    message = str(err.value)
    assert "'.absolute_pos_embed', '.relative_position_bias_table'] match no parameter" in message
    assert 'net.0' in message


def test_swin_custom_keys_set_the_decay_of_the_tables(tmp_path):
    runner, _ = build(tmp_path, ['mmpretrain/default_runtime.py',
                                 'mmpretrain/schedules/imagenet_bs1024_adamw_swin.py'],
                      PROJECTS[2][2])
    model = runner.unwrapped_model
    tables = {id(model.blocks.absolute_pos_embed), id(model.blocks.relative_position_bias_table)}
    decays = {id(p): group['weight_decay'] for group in runner.optim_wrapper.param_groups
              for p in group['params']}
    assert all(decays[t] == 0.0 for t in tables)
    assert decays[id(model.net[0].weight)] == 0.05


def test_every_notice_is_one_line_saying_why(tmp_path, capsys):
    _, notices = build(tmp_path, ['mmpose/td-hm_adam-210e.py'],
                       SHORT, capsys=capsys)
    for line in notices:
        assert '\n' not in line and ('ignored' in line or 'accepted' in line), line


def test_helper_variables_of_the_projects_named(tmp_path, capsys):
    _, notices = build(tmp_path, ['mmseg/default_runtime.py', 'mmseg/schedule_20k.py'],
                       SEG_EPOCHS, capsys=capsys)
    line = next(n for n in notices if n.startswith('helper variables'))
    assert 'tta_model' in line and 'optimizer' not in line  # optimizer is used: in effect


def test_weight_decay_schedule_of_coswd_moves(tmp_path):
    runner, _ = build(tmp_path, ['mmpretrain/default_runtime.py',
                                 'mmpretrain/schedules/imagenet_bs256_coslr_coswd_300e.py'], SHORT)
    before = runner.optim_wrapper.optimizer.param_groups[0]['weight_decay']
    runner.train()
    after = runner.optim_wrapper.optimizer.param_groups[0]['weight_decay']
    assert before == 1e-4 and 1e-5 < after < before


def test_pose_runtime_builds_sync_buffers_hook(tmp_path):
    runner, _ = build(tmp_path, ['mmpose/td-hm_adam-210e.py'],
                      SHORT)
    assert 'SyncBuffersHook' in [type(h).__name__ for h in runner.hooks]
    assert not any('Visualization' in type(h).__name__ for h in runner.hooks)


def test_segmentation_runtime_switches_cudnn_benchmark_on(tmp_path):
    old = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = False
        build(tmp_path, ['mmseg/default_runtime.py', 'mmseg/schedule_20k.py'], SEG_EPOCHS)
        assert torch.backends.cudnn.benchmark is True
    finally:
        torch.backends.cudnn.benchmark = old


def test_segmentation_schedule_with_its_iteration_loop(tmp_path):
    runner, _ = build(tmp_path, ['mmseg/default_runtime.py', 'mmseg/schedule_20k.py'],
                      options=['train_cfg.max_iters=6', 'train_cfg.val_interval=3',
                               'param_scheduler.0.end=6', 'default_hooks.checkpoint.interval=3'])
    runner.train()
    assert runner.iter == 6


def test_shipped_mmengine_style_example_maps_as_its_comments_say(tmp_path, capsys):
    cfg = load_config(os.path.join(ROOT, 'configs', 'mmengine_style', 'spice_mmengine.py'),
                      [f'work_dir={tmp_path}'])
    capsys.readouterr()
    plain = prepare_config(cfg)
    err = capsys.readouterr().err
    assert (plain['run_name'], plain['seed'], plain['metrics']) == (
        'spice-mmengine', 0, dict(type='ErrorMetrics'))
    assert plain['default_hooks']['logger']['log_steps'] == 20
    assert [h['type'] for h in plain['custom_hooks']] == ['EMAHook', 'EarlyStoppingHook']
    assert plain['param_scheduler'][2]['param_name'] == 'weight_decay'
    assert 'notice: helper variables: dataset_type, data_root, spice' in err
    assert 'timer' not in plain['default_hooks'] and 'visualization' not in plain['default_hooks']
