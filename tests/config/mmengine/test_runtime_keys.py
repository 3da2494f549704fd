"""Each mapped MMEngine key changes what it should; each key accepted and not used prints its
one line; a key with no meaning is an error with did-you-mean."""
import copy
import os
import sys

import pytest
import torch

from tests.config.test_validate import problems
from trainkit.engine.from_cfg import prepare_config
from trainkit.engine.runner import Runner


def notices(cfg, capsys):
    capsys.readouterr()
    prepare_config(copy.deepcopy(cfg))
    return [line[len('notice: '):] for line in capsys.readouterr().err.splitlines()
            if line.startswith('notice: ')]


def test_load_from_loads_the_weights(tiny_cfg, tmp_path):
    first = Runner.from_cfg(tiny_cfg)
    first.train()
    cfg = copy.deepcopy(tiny_cfg)
    cfg.update(work_dir=str(tmp_path / 'second'), seed=5,
               load_from=os.path.join(first.work_dir, 'tiny_last.pt'))
    second = Runner.from_cfg(cfg)
    second.load_checkpoint_once()
    for a, b in zip(first.unwrapped_model.parameters(), second.unwrapped_model.parameters()):
        assert torch.equal(a, b)
    assert second.epoch == 0  # weights only


def test_randomness_seed_seeds(tiny_cfg):
    def weights(seed):
        cfg = copy.deepcopy(tiny_cfg)
        del cfg['seed']
        cfg['randomness'] = dict(seed=seed)
        return next(Runner.from_cfg(cfg).unwrapped_model.parameters()).detach().clone()
    assert torch.equal(weights(3), weights(3))
    assert not torch.equal(weights(3), weights(4))


@pytest.mark.parametrize('interval', [1, 3])
def test_logger_interval_logs_every_n_steps(tiny_cfg, interval):
    cfg = copy.deepcopy(tiny_cfg)
    cfg['default_hooks'] = dict(logger=dict(type='LoggerHook', interval=interval,
                                            progress_bar=False))
    runner = Runner.from_cfg(cfg)
    runner.train()
    from tests.config.mmengine.support import rows
    assert [r['step'] for r in rows(runner.work_dir)] == list(range(interval, 17, interval))


def test_experiment_name_names_the_run(tiny_cfg):
    cfg = copy.deepcopy(tiny_cfg)
    del cfg['run_name']
    cfg['experiment_name'] = 'exp1'
    assert prepare_config(cfg)['run_name'] == 'exp1'


def test_val_evaluator_is_metrics(tiny_cfg):
    cfg = copy.deepcopy(tiny_cfg)
    cfg['val_evaluator'] = dict(type='ErrorMetrics', per_atom=[])
    assert prepare_config(cfg)['metrics'] == dict(type='ErrorMetrics', per_atom=[])


def test_model_wrapper_cfg_is_ddp_cfg(tiny_cfg):
    cfg = copy.deepcopy(tiny_cfg)
    cfg['model_wrapper_cfg'] = dict(type='MMDistributedDataParallel',
                                    find_unused_parameters=True)
    assert prepare_config(cfg)['ddp_cfg'] == dict(find_unused_parameters=True)


def test_ema_momentum_is_one_minus_decay(tiny_cfg):
    cfg = copy.deepcopy(tiny_cfg)
    cfg['custom_hooks'] = [dict(type='EMAHook', momentum=0.01, priority=49)]
    hook = next(h for h in Runner.from_cfg(cfg).hooks if type(h).__name__ == 'EMAHook')
    assert hook.decay == pytest.approx(0.99) and hook.priority == 49


IGNORED = [
    ('timer', dict(default_hooks=dict(timer=dict(type='IterTimerHook'))),
     'default_hooks.timer: IterTimerHook accepted'),
    ('runtime-info', dict(custom_hooks=[dict(type='RuntimeInfoHook')]),
     'custom_hooks.0: RuntimeInfoHook accepted'),
    ('visualization', dict(default_hooks=dict(visualization=dict(type='VisualizationHook',
                                                                 enable=False))),
     'default_hooks.visualization: VisualizationHook accepted and not run: disabled'),
    ('det-visualization', dict(default_hooks=dict(visualization=dict(
        type='DetVisualizationHook'))), 'it draws predictions'),
    ('disabled-package-hook', dict(custom_hooks=[dict(type='BadCaseAnalysisHook',
                                                      enable=False)]), 'disabled (enable=False)'),
    ('ignore-last', dict(default_hooks=dict(logger=dict(type='LoggerHook', ignore_last=False))),
     'default_hooks.logger.ignore_last: False ignored'),
    ('interval-exp-name', dict(default_hooks=dict(logger=dict(type='LoggerHook',
                                                              interval_exp_name=100))),
     'default_hooks.logger.interval_exp_name: ignored'),
    ('out-dir', dict(default_hooks=dict(logger=dict(type='LoggerHook', out_dir='/x'))),
     "default_hooks.logger.out_dir: '/x' ignored"),
    ('strict-load', dict(custom_hooks=[dict(type='EMAHook', momentum=0.01, strict_load=True)]),
     'custom_hooks.0.strict_load: ignored'),
    ('log-level', dict(log_level='DEBUG'), "log_level: 'DEBUG' ignored"),
    ('log-processor', dict(log_processor=dict(window_size=10)), 'log_processor: window_size'),
    ('val-fp16', dict(val_cfg=dict(type='ValLoop', fp16=True)), 'val_cfg.fp16: True ignored'),
    ('dist-timeout', dict(env_cfg=dict(dist_cfg=dict(backend='gloo', timeout=1800))),
     'env_cfg.dist_cfg: timeout ignored'),
    ('compile', dict(compile=True), 'compile: ignored'),
    ('helpers', dict(lr=0.1, backend_args=None, tta_model=dict(type='SegTTAModel')),
     'helper variables: lr, backend_args, tta_model'),
    ('vis-backends-beside-visualizer', dict(
        vis_backends=[dict(type='LocalVisBackend')],
        visualizer=dict(type='Visualizer', vis_backends=[dict(type='TensorboardVisBackend')])),
     'vis_backends: ignored: visualizer.vis_backends is given'),
]


@pytest.mark.parametrize('name, extra, expected', IGNORED, ids=[c[0] for c in IGNORED])
def test_each_ignored_key_prints_its_line(tiny_cfg, capsys, name, extra, expected):
    cfg = copy.deepcopy(tiny_cfg)
    for key, value in extra.items():
        if key == 'default_hooks':
            cfg['default_hooks'].update(value)
        else:
            cfg[key] = value
    found = notices(cfg, capsys)
    assert sum(expected in line for line in found) == 1, found


def test_mapped_and_built_in_keys_print_nothing(tiny_cfg, capsys):
    cfg = copy.deepcopy(tiny_cfg)
    cfg['default_hooks'].update(param_scheduler=dict(type='ParamSchedulerHook'),
                                sampler_seed=dict(type='DistSamplerSeedHook'))
    cfg.update(load_from=None, randomness=dict(seed=0), log_level='INFO', launcher='pytorch',
               val_cfg=dict(), test_cfg=dict(type='TestLoop'), env_cfg=dict(
                   cudnn_benchmark=False), optimizer=dict(type='AdamW', lr=1e-2))
    cfg['optim_wrapper'] = dict(optimizer=dict(type='AdamW', lr=1e-2))
    assert notices(cfg, capsys) == []


ERRORS = [
    ('optim_wraper', dict(optim_wraper=dict(optimizer=dict(lr=0.1))),
     "unknown top-level key 'optim_wraper' — did you mean 'optim_wrapper'?"),
    ('launcher-slurm', dict(launcher='slurm'), "launcher: 'slurm' is not supported"),
    ('launcher-typo', dict(launcher='pytorh'), "did you mean 'pytorch'?"),
    ('log-level-typo', dict(log_level='INFOO'), "did you mean 'INFO'"),
    ('env-typo', dict(env_cfg=dict(cudnn_benchmrk=True)), "did you mean 'cudnn_benchmark'?"),
    ('mp-typo', dict(env_cfg=dict(mp_cfg=dict(mp_start_methd='fork'))),
     "did you mean 'mp_start_method'?"),
    ('val-cfg-typo', dict(val_cfg=dict(fp61=True)), "did you mean 'fp16'?"),
    ('accuracy', dict(val_evaluator=dict(type='Accuracy', topk=(1,))),
     "'Accuracy' is a metric of mmpretrain (pip install mmpretrain)"),
    ('log-processor-typo', dict(log_processor=dict(window_sise=10)),
     "did you mean 'window_size'?"),
    ('profiler', dict(custom_hooks=[dict(type='ProfilerHook')]),
     "ProfilerHook (mmengine.hooks.profiler_hook) is an MMEngine hook"),
    ('param-scheduler-hook-args', dict(custom_hooks=[dict(type='ParamSchedulerHook', x=1)]),
     'ParamSchedulerHook takes no arguments'),
    ('lars-not-installed', dict(optim_wrapper=dict(optimizer=dict(type='LARS', lr=0.1))),
     "'LARS' is a component of the OpenMMLab package 'mmpretrain', which is not installed; "
     'pip install mmpretrain'),
    ('scoped-not-installed', dict(optim_wrapper=dict(optimizer=dict(type='mmselfsup.LARS',
                                                                    lr=0.1))),
     'pip install mmselfsup'),
    ('seg-scope', dict(default_scope='mmseg', param_scheduler=[dict(type='PolyLRRatio')]),
     'pip install mmsegmentation'),
    ('diff-rank-seed', dict(randomness=dict(diff_rank_seed=True)), 'diff_rank_seed=True'),
]


@pytest.mark.parametrize('name, extra, expected', ERRORS, ids=[c[0] for c in ERRORS])
def test_meaningless_keys_are_errors(tiny_cfg, name, extra, expected):
    cfg = copy.deepcopy(tiny_cfg)
    cfg.update(copy.deepcopy(extra))
    found = problems(cfg)
    assert any(expected in p for p in found), found


def test_component_of_an_installed_package_resolved_through_its_scope(tiny_cfg, tmp_path,
                                                                     monkeypatch):
    package = tmp_path / 'pkgs' / 'mmfakepkg'
    package.mkdir(parents=True)
    (package / '__init__.py').write_text('')
    (package / 'registry.py').write_text(
        'from mmengine.registry import OPTIMIZERS as MM\n'
        'from mmengine.registry import Registry\n'
        "OPTIMIZERS = Registry('optimizer', parent=MM, scope='mmfakepkg',\n"
        "                      locations=['mmfakepkg.optim'])\n")
    (package / 'optim.py').write_text(
        'import torch\n'
        'from mmfakepkg.registry import OPTIMIZERS\n'
        '@OPTIMIZERS.register_module()\n'
        'class FakeLARS(torch.optim.SGD):\n'
        '    pass\n')
    monkeypatch.syspath_prepend(str(tmp_path / 'pkgs'))
    for type_name, scope in (('mmfakepkg.FakeLARS', None), ('FakeLARS', 'mmfakepkg')):
        cfg = copy.deepcopy(tiny_cfg)
        cfg['optim_wrapper'] = dict(optimizer=dict(type=type_name, lr=0.1))
        cfg['default_scope'] = scope
        runner = Runner.from_cfg(cfg)
        assert type(runner.optim_wrapper.optimizer).__name__ == 'FakeLARS'
    for name in [m for m in sys.modules if m.startswith('mmfakepkg')]:
        monkeypatch.delitem(sys.modules, name)


def test_load_from_fills_a_ckpt_file_left_none_by_a_base(tiny_cfg):
    cfg = copy.deepcopy(tiny_cfg)
    cfg.update(ckpt_file=None, load_from='pretrained.pt')   # trainkit's default_runtime + MMEngine
    assert prepare_config(cfg)['ckpt_file'] == 'pretrained.pt'
    cfg['ckpt_file'] = 'other.pt'
    assert any('name different checkpoints' in p for p in problems(cfg))


def test_bare_resume_flag_clears_load_from_as_mmengine(tiny_cfg, tmp_path):
    from tools.train import main
    cfg_path = tmp_path / 'c.py'
    cfg = copy.deepcopy(tiny_cfg)
    cfg.update(train_cfg=dict(max_epochs=1), load_from='pretrained.pt')
    cfg_path.write_text('\n'.join(f'{k} = {v!r}' for k, v in cfg.items()))
    first = dict(cfg, load_from=None)
    Runner.from_cfg(first).train()
    assert main([str(cfg_path), '--resume', '--cfg-options', 'train_cfg.max_epochs=2']) == 0


def test_logger_typo_suggests_mmengine_and_trainkit_names(tiny_cfg):
    cfg = copy.deepcopy(tiny_cfg)
    cfg['default_hooks']['logger'] = dict(type='LoggerHook', intervl=10)
    assert any("unexpected argument 'intervl' — did you mean 'interval'" in p
               for p in problems(cfg))


def test_two_ema_hooks_are_an_error(tiny_cfg):
    cfg = copy.deepcopy(tiny_cfg)
    cfg['default_hooks']['ema'] = dict(type='EMAHook', ema_decay=0.99)
    cfg['custom_hooks'] = [dict(type='EMAHook', momentum=0.01)]
    assert any('EMAHook is configured 2 times (default_hooks.ema, custom_hooks.0)' in p
               for p in problems(cfg))


def test_env_cfg_resource_limit_raises_the_open_file_limit(tiny_cfg):
    resource = pytest.importorskip('resource')
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft - 8, hard))  # lowering needs no rights
        cfg = copy.deepcopy(tiny_cfg)
        cfg['env_cfg'] = dict(resource_limit=soft - 4)
        Runner.from_cfg(cfg)
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == soft - 4
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_installed_package_that_does_not_import_is_named(tiny_cfg, tmp_path, monkeypatch):
    package = tmp_path / 'pkgs' / 'mmbrokenpkg'
    package.mkdir(parents=True)
    (package / '__init__.py').write_text('')
    (package / 'registry.py').write_text('import mmcv_missing_dependency\n')
    monkeypatch.syspath_prepend(str(tmp_path / 'pkgs'))
    cfg = copy.deepcopy(tiny_cfg)
    cfg['optim_wrapper'] = dict(optimizer=dict(type='mmbrokenpkg.LARS', lr=0.1))
    found = problems(cfg)
    assert any("needs the package 'mmbrokenpkg', which is installed but does not import: "
               "No module named 'mmcv_missing_dependency'" in p for p in found), found
    for name in [m for m in sys.modules if m.startswith('mmbrokenpkg')]:
        monkeypatch.delitem(sys.modules, name)


def test_param_scheduler_hook_does_not_step_twice(tiny_cfg):
    cfg = copy.deepcopy(tiny_cfg)
    cfg['default_hooks'].update(param_scheduler=dict(type='ParamSchedulerHook'),
                                sampler_seed=dict(type='DistSamplerSeedHook'))
    cfg['optim_wrapper'] = dict(optimizer=dict(type='SGD', lr=0.1))
    cfg['param_scheduler'] = [dict(type='LinearLR', start_factor=0.5, by_epoch=False, end=2),
                              dict(type='MultiStepLR', by_epoch=True, milestones=[3, 6],
                                   gamma=0.1)]
    runner = Runner.from_cfg(cfg)
    runner.train()
    # 4 epochs: one milestone passed (0.1·0.1); stepped twice per epoch, both would be (1e-3)
    assert runner.optim_wrapper.optimizer.param_groups[0]['lr'] == pytest.approx(1e-2)
