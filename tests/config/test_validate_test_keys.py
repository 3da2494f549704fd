"""test_dataloader and val_cfg/test_cfg (MMEngine's names) are accepted and checked."""
import pytest

from trainkit.engine.from_cfg import prepare_config
from trainkit.errors import ConfigError


def problems(cfg):
    with pytest.raises(ConfigError) as err:
        prepare_config(cfg)
    return err.value.problems


def test_test_dataloader_and_loop_sections_pass(tiny_cfg):
    tiny_cfg['test_dataloader'] = dict(tiny_cfg['val_dataloader'])
    tiny_cfg['test_cfg'] = dict(type='TestLoop')
    tiny_cfg['val_cfg'] = dict()
    assert prepare_config(tiny_cfg)['test_dataloader']['batch_size'] == 16


def test_test_dataloader_is_checked_like_the_others(tiny_cfg):
    tiny_cfg['test_dataloader'] = dict(dataset=dict(type='SyntheticRegresion'), batch_sise=4,
                                       shuffle='no')
    found = problems(tiny_cfg)
    assert any(p.startswith("test_dataloader: unknown key 'batch_sise'") and
               "did you mean 'batch_size'" in p for p in found)
    assert any(p.startswith("test_dataloader.dataset.type: 'SyntheticRegresion'") for p in found)
    assert any(p.startswith("test_dataloader.shuffle: expected True or False, got 'no'")
               for p in found)


@pytest.mark.parametrize('key, value, message', [
    ('test_cfg', dict(type='ValLoop'), "test_cfg.type: 'ValLoop' is not supported; trainkit "
                                       "runs 'TestLoop' (or leave type out)"),
    ('val_cfg', dict(fp61=True), "val_cfg: unknown key 'fp61' — did you mean 'fp16'?; valid "
                                 "keys: type, fp16"),
    ('test_cfg', 'TestLoop', "test_cfg: expected a dict such as dict(type='TestLoop'), got "
                             "'TestLoop'"),
])
def test_loop_sections_refuse_what_would_be_ignored(tiny_cfg, key, value, message):
    tiny_cfg[key] = value
    assert problems(tiny_cfg) == [message]
