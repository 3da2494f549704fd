"""Registries: plain names, dotted paths, case-insensitive names, custom components."""
import os
import textwrap

import pytest
import torch

from trainkit.errors import ConfigError
from trainkit.registry import (
    HOOKS,
    LOSSES,
    OPTIM_WRAPPER_CONSTRUCTORS,
    OPTIMIZERS,
    PARAM_SCHEDULERS,
    lookup,
)


def test_torch_optimizer_by_plain_name_and_case():
    assert lookup(OPTIMIZERS, 'AdamW') is torch.optim.AdamW
    assert lookup(OPTIMIZERS, 'adamw') is torch.optim.AdamW
    assert lookup(OPTIMIZERS, 'NAdam') is torch.optim.NAdam


def test_dotted_path():
    assert lookup(OPTIMIZERS, 'torch.optim.SGD') is torch.optim.SGD


def test_mmengine_scheduler_by_plain_name():
    from mmengine.optim.scheduler import CosineAnnealingLR
    assert lookup(PARAM_SCHEDULERS, 'CosineAnnealingLR') is CosineAnnealingLR


def test_unknown_name_suggests_closest():
    with pytest.raises(ConfigError) as err:
        lookup(OPTIMIZERS, 'AdamX', 'optim_wrapper.optimizer.type')
    assert str(err.value) == ("optim_wrapper.optimizer.type: 'AdamX' is not a registered "
                              "optimizer — did you mean 'AdamW', 'Adamax'?")


def test_unknown_name_without_match_says_how_to_register():
    with pytest.raises(ConfigError, match=r'register it with @HOOKS.register_module\(\)'):
        lookup(HOOKS, 'Zzzzzzzz', 'custom_hooks.0.type')


def test_loss_aliases_case_insensitive():
    assert lookup(LOSSES, 'SmoothL1') is lookup(LOSSES, 'smoothl1')
    assert lookup(LOSSES, 'L1') is lookup(LOSSES, 'mae')
    assert lookup(LOSSES, 'l2') is lookup(LOSSES, 'MSE')


def test_layer_decay_constructor_registered():
    cls = lookup(OPTIM_WRAPPER_CONSTRUCTORS, 'LayerDecayOptimWrapperConstructor')
    assert cls.__name__ == 'LayerDecayOptimWrapperConstructor'


CUSTOM_OPTIM = textwrap.dedent('''
    import torch
    from trainkit.registry import OPTIMIZERS

    @OPTIMIZERS.register_module(force=True)
    class HalfStepSGD(torch.optim.SGD):
        """SGD that takes half steps (so a test can see it was used)."""
        def __init__(self, params, lr=0.1, shrink=0.5):
            super().__init__(params, lr=lr * shrink)
            self.shrink = shrink
''')


@pytest.fixture
def custom_optim_module(tmp_path, monkeypatch):
    name = f'my_optim_{tmp_path.name.replace("-", "_")}'
    (tmp_path / f'{name}.py').write_text(CUSTOM_OPTIM)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


@pytest.mark.parametrize('paramwise', [False, True])
def test_custom_optimizer_through_custom_imports(tiny_cfg, custom_optim_module, paramwise):
    from trainkit.engine.runner import Runner
    tiny_cfg['custom_imports'] = dict(imports=[custom_optim_module])
    tiny_cfg['optim_wrapper'] = dict(optimizer=dict(type='HalfStepSGD', lr=0.2))
    if paramwise:
        tiny_cfg['optim_wrapper']['paramwise_cfg'] = dict(custom_keys={'net.0': dict(lr_mult=2.0)})
    tiny_cfg['param_scheduler'] = None
    runner = Runner.from_cfg(tiny_cfg)
    optimizer = runner.optim_wrapper.optimizer
    assert type(optimizer).__name__ == 'HalfStepSGD'
    lrs = sorted({group['lr'] for group in optimizer.param_groups})
    # groups with an explicit lr (net.0: 0.2 × 2) keep it; the rest get HalfStepSGD's halved default
    assert lrs == ([0.1, 0.4] if paramwise else [0.1])


def test_custom_imports_flag_is_recorded_in_the_saved_config(tiny_cfg, custom_optim_module,
                                                              tmp_path):
    from tools.train import main
    tiny_cfg['optim_wrapper'] = dict(optimizer=dict(type='HalfStepSGD', lr=0.2))
    tiny_cfg['train_cfg'] = dict(max_epochs=1)
    config = tmp_path / 'cfg.py'
    config.write_text(''.join(f'{k} = {v!r}\n' for k, v in tiny_cfg.items()))
    assert main([str(config), '--custom-imports', custom_optim_module]) == 0
    saved = os.path.join(tiny_cfg['work_dir'], 'tiny_config.py')
    assert custom_optim_module in open(saved, encoding='utf-8').read()
    # the saved config repeats the run on its own, without the flag
    assert main([saved, '--dry-run']) == 0


@pytest.fixture
def restored_optimizers():
    OPTIMIZERS.import_from_location()
    saved = dict(OPTIMIZERS._module_dict)
    yield
    OPTIMIZERS._module_dict.clear()
    OPTIMIZERS._module_dict.update(saved)


def test_a_name_that_shadows_a_built_in_needs_force_and_then_names_both(restored_optimizers,
                                                                        capsys):
    class SGD(torch.optim.SGD):
        pass

    with pytest.raises(ConfigError, match="optimizer 'SGD': tests.test_registry.test_a_name_"
                                          ".*would shadow the built-in torch.optim.sgd.SGD"):
        OPTIMIZERS.register_module(module=SGD)
    assert lookup(OPTIMIZERS, 'SGD') is torch.optim.SGD  # nothing was replaced
    OPTIMIZERS.register_module(module=SGD, force=True)
    assert lookup(OPTIMIZERS, 'SGD') is SGD
    err = capsys.readouterr().err
    assert "notice: optimizer 'SGD' is now tests.test_registry." in err
    assert 'replacing torch.optim.sgd.SGD for every config' in err


def test_registering_the_same_class_again_is_quiet(restored_optimizers, capsys):
    class Reloaded(torch.optim.SGD):
        pass

    OPTIMIZERS.register_module(module=Reloaded)
    again = type('Reloaded', (torch.optim.SGD,), {'__module__': Reloaded.__module__,
                                                   '__qualname__': Reloaded.__qualname__})
    OPTIMIZERS.register_module(module=again)  # its module imported a second time
    assert lookup(OPTIMIZERS, 'Reloaded') is again and capsys.readouterr().err == ''
