"""MMEngine ``_delete_`` leftovers (a section whose base lacked it) are dropped before checking."""
import copy

from tests.config.test_validate import problems
from trainkit.config.mmengine.leftovers import drop_delete_leftovers
from trainkit.engine.from_cfg import prepare_config


def test_delete_leftover_in_a_section_without_base_passes(tiny_cfg):
    cfg = copy.deepcopy(tiny_cfg)
    cfg['auto_scale_lr'] = dict(_delete_=True, enable=False, base_batch_size=256)
    prepared = prepare_config(cfg)
    assert prepared['auto_scale_lr'] == dict(enable=False, base_batch_size=256)


def test_nested_leftovers_dropped_and_values_kept():
    cfg = {'a': {'_delete_': True, 'b': [{'_delete_': True, 'c': 1}]}, 'd': 2}
    assert drop_delete_leftovers(cfg) == {'a': {'b': [{'c': 1}]}, 'd': 2}


def test_other_unknown_keys_still_errors(tiny_cfg):
    cfg = copy.deepcopy(tiny_cfg)
    cfg['auto_scale_lr'] = dict(_delete_=True, base_batch_sise=256)
    found = problems(cfg)
    assert any("'base_batch_sise'" in p and 'base_batch_size' in p for p in found), found
