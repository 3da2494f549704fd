"""MMEngine's load_from and randomness map onto trainkit's ckpt_file, seed and deterministic."""
import copy

from tests.config.test_validate import problems
from trainkit.engine.from_cfg import prepare_config


def test_load_from_and_randomness_mapped(tiny_cfg):
    cfg = copy.deepcopy(tiny_cfg)
    cfg.update(load_from='weights.pt', randomness=dict(seed=7, deterministic=True))
    prepared = prepare_config(cfg)
    assert (prepared['ckpt_file'], prepared['seed'], prepared['deterministic']) == (
        'weights.pt', 7, True)
    assert 'load_from' not in prepared and 'randomness' not in prepared


def test_randomness_typo_is_an_error(tiny_cfg):
    cfg = copy.deepcopy(tiny_cfg)
    cfg['randomness'] = dict(sed=1)
    assert any("'sed'" in p and "'seed'" in p for p in problems(cfg))


def test_diff_rank_seed_is_not_ignored_silently(tiny_cfg):
    cfg = copy.deepcopy(tiny_cfg)
    cfg['randomness'] = dict(seed=1, diff_rank_seed=True)
    assert any('diff_rank_seed' in p for p in problems(cfg))
    cfg['randomness'] = dict(seed=1, diff_rank_seed=False)
    assert prepare_config(cfg)['seed'] == 1
