"""Config validation: every problem reported at once, with the closest valid names."""
import inspect
import os
import subprocess
import sys

import pytest

from tests.support.configs import ROOT
from trainkit.config.validate import TOP_LEVEL_KEYS
from trainkit.engine.from_cfg import TRAIN_CFG_ARGS, prepare_config
from trainkit.engine.runner import Runner
from trainkit.errors import ConfigError


def problems(cfg):
    with pytest.raises(ConfigError) as err:
        prepare_config(cfg)
    return err.value.problems


def test_valid_config_passes(tiny_cfg):
    assert prepare_config(tiny_cfg)['model']['type'] == 'MLP'


def test_unexpected_argument_with_suggestion(tiny_cfg):
    tiny_cfg['optim_wrapper']['optimizer']['weight_decy'] = 0.1
    assert problems(tiny_cfg) == ["optim_wrapper.optimizer: AdamW got an unexpected argument "
                                  "'weight_decy' — did you mean 'weight_decay'?"]


def test_unknown_type_with_suggestions(tiny_cfg):
    tiny_cfg['optim_wrapper']['optimizer']['type'] = 'AdamX'
    assert problems(tiny_cfg) == ["optim_wrapper.optimizer.type: 'AdamX' is not a registered "
                                  "optimizer — did you mean 'AdamW', 'Adamax'?"]


def test_all_problems_at_once(tiny_cfg):
    tiny_cfg['optim_wrapper']['optimizer']['weight_decy'] = 0.1
    tiny_cfg['model']['hiden'] = [3]
    tiny_cfg['defualt_hooks'] = {}
    tiny_cfg['param_scheduler'][1]['type'] = 'CosineAnealingLR'
    tiny_cfg['train_cfg']['max_epochs'] = -1
    found = problems(tiny_cfg)
    assert len(found) == 5
    assert "unknown top-level key 'defualt_hooks' — did you mean 'default_hooks'?" in found[0]
    assert 'train_cfg.max_epochs: expected an int >= 1, got -1' in found
    assert "model: MLP got an unexpected argument 'hiden' — did you mean 'hidden'?" in found
    assert any("'CosineAnealingLR' is not a registered parameter scheduler — did you mean "
               "'CosineAnnealingLR'" in p for p in found)


def test_wrong_value_type(tiny_cfg):
    tiny_cfg['optim_wrapper']['optimizer']['lr'] = 'fast'
    assert problems(tiny_cfg) == ["optim_wrapper.optimizer.lr: AdamW expects a number or Tensor, "
                                  "got 'fast' (str); write a number without quotes, e.g. "
                                  "--cfg-options optim_wrapper.optimizer.lr=0.001"]


@pytest.mark.parametrize('section, key, value, expected', [
    ('train_dataloader', 'batch_size', 0, 'train_dataloader.batch_size: expected an int >= 1'),
    ('train_dataloader', 'batch_sise', 4, "unknown key 'batch_sise' — did you mean 'batch_size'"),
    ('optim_wrapper', 'accumulative_counts', 0, 'optim_wrapper.accumulative_counts: expected'),
    ('optim_wrapper', 'clip_grad', dict(max_nrm=1.0), "unknown key 'max_nrm' — did you mean "
                                                      "'max_norm'"),
    ('optim_wrapper', 'paramwise_cfg', dict(norm_decay_mul=0.0), "did you mean 'norm_decay_mult'"),
    ('train_cfg', 'max_iters', 100, "train_cfg.max_iters: needs type='IterBasedTrainLoop'"),
])
def test_section_checks(tiny_cfg, section, key, value, expected):
    tiny_cfg[section][key] = value
    assert any(expected in p for p in problems(tiny_cfg))


def test_hook_arguments_checked(tiny_cfg):
    tiny_cfg['default_hooks']['checkpoint'] = dict(type='CheckpointHook', bestk=2)
    tiny_cfg['custom_hooks'] = [dict(type='EarlyStopingHook', early_stoppings={})]
    found = problems(tiny_cfg)
    assert "default_hooks.checkpoint: CheckpointHook got an unexpected argument 'bestk' — did " \
           "you mean 'best_k'?" in found
    assert any("custom_hooks.0.type: 'EarlyStopingHook' is not a registered hook — did you mean "
               "'EarlyStoppingHook'?" in p for p in found)


def test_private_helper_variables_ignored(tiny_cfg):
    tiny_cfg['_my_epochs'] = 3
    prepare_config(tiny_cfg)


def test_train_py_exits_2_without_traceback(tmp_path):
    cfg = tmp_path / 'bad.py'
    cfg.write_text("model = dict(type='MLP', in_features=2)\n"
                   "optim_wrapper = dict(optimizer=dict(type='AdamW', weight_decy=0.1))\n"
                   "train_dataloader = dict(dataset=dict(type='SyntheticRegression'))\n")
    run = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'train.py'), str(cfg)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 2
    assert 'Traceback' not in run.stderr
    assert "AdamW got an unexpected argument 'weight_decy' — did you mean 'weight_decay'?" in \
        run.stderr
    debug = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'train.py'), str(cfg),
                            '--debug'], capture_output=True, text=True, cwd=tmp_path)
    assert debug.returncode == 2 and 'Traceback' in debug.stderr


def test_import_trainkit_is_light():
    code = ('import sys, trainkit; import trainkit.registry; '
            'print(any(m.startswith(("mmengine.optim", "mmengine.runner")) for m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == 'False', out.stderr


def test_scheduler_argument_typo_behind_a_forwarding_mixin(tiny_cfg):
    # mmengine's LR schedulers take (optimizer, *args, **kwargs) and forward them to the
    # parameter scheduler: the check must read the signature behind the mixin.
    tiny_cfg['param_scheduler'][1]['T_mx'] = 5
    tiny_cfg['param_scheduler'][1]['eta_min'] = 'low'
    found = problems(tiny_cfg)
    assert "param_scheduler.1: CosineAnnealingLR got an unexpected argument 'T_mx' — did you " \
           "mean 'T_max'?" in found
    assert any(p.startswith('param_scheduler.1.eta_min: CosineAnnealingLR expects') for p in found)


def test_custom_keys_given_as_a_string_is_a_config_error(tiny_cfg):
    # `--cfg-options "...custom_keys={'a': dict(lr_mult=0.1)}"` is not a literal: it stays a str
    tiny_cfg['optim_wrapper']['paramwise_cfg'] = dict(custom_keys="{'net': dict(lr_mult=0.1)}")
    found = problems(tiny_cfg)
    assert len(found) == 1 and found[0].startswith(
        "optim_wrapper.paramwise_cfg.custom_keys: expected a dict {name part: dict(lr_mult=..., "
        "decay_mult=...)}, got \"{'net': dict(lr_mult=0.1)}\" (str)")


def test_every_runner_argument_a_config_can_set_is_a_known_top_level_key():
    """The Runner's signature is the one source of its arguments and defaults; the validator's
    key list must name each argument a config sets by its own name, so the two cannot drift."""
    built_by_from_cfg = {'hooks', 'cfg_text'}
    args = [name for name in inspect.signature(Runner).parameters
            if name not in TRAIN_CFG_ARGS and name not in built_by_from_cfg]
    assert args, 'the Runner has no arguments?'
    missing = [name for name in args if name not in TOP_LEVEL_KEYS]
    assert not missing, f'Runner arguments a config cannot set: {missing}'
