"""MMEngine's training-command flags on ``tools/train.py``: each changes what it says.

``--resume auto|PATH``, ``--amp``, ``--auto-scale-lr``, ``--no-validate``, ``--launcher
{none,pytorch,slurm}`` and ``--local_rank/--local-rank``, run as a user runs them (the tiny
seeded run of ``tests.support.reliability``).
"""
import json
import os

import pytest

from tests.support import reliability as h
from tools.train import parse_args
from trainkit.checkpointing.format import load_checkpoint
from trainkit.cli import _first_host, setup_launcher
from trainkit.errors import ConfigError


@pytest.fixture
def cfg(tmp_path):
    work = str(tmp_path / 'work')
    return h.write_config(str(tmp_path / 'cfg.py'), h.tiny_cfg(work, train_cfg=dict(max_epochs=2)))


def _rows(work):
    with open(os.path.join(work, 'loss.jsonl'), encoding='utf-8') as f:
        return [json.loads(line) for line in f]


def test_resume_auto_continues_the_last_checkpoint_or_starts_fresh(cfg, tmp_path):
    work = str(tmp_path / 'work')
    bare = h.cli([cfg, '--resume'])
    assert bare.rc == 2 and 'there is no checkpoint to resume from' in bare.err
    fresh = h.cli([cfg, '--resume', 'auto'])
    assert fresh.rc == 0, fresh.err
    assert f'--resume auto: {work}/tiny_last.pt does not exist, so this run starts from ' \
           f'scratch' in fresh.err
    assert load_checkpoint(os.path.join(work, 'tiny_last.pt'))['meta']['epoch'] == 2
    auto = h.cli([cfg, '--resume', 'auto', '--cfg-options', 'train_cfg.max_epochs=3'])
    assert auto.rc == 0, auto.err
    assert f'Resumed from {work}/tiny_last.pt: epoch 2 done' in auto.out
    assert load_checkpoint(os.path.join(work, 'tiny_last.pt'))['meta']['epoch'] == 3
    other = str(tmp_path / 'other')
    path = h.cli([cfg, '--work-dir', other, '--resume', os.path.join(work, 'tiny_last.pt'),
                  '--cfg-options', 'train_cfg.max_epochs=4'])
    assert path.rc == 0, path.err
    assert load_checkpoint(os.path.join(other, 'tiny_last.pt'))['meta']['epoch'] == 4


def test_amp_switches_to_the_amp_wrapper(cfg):
    plain, amp = h.cli([cfg, '--dry-run']), h.cli([cfg, '--dry-run', '--amp'])
    assert plain.rc == amp.rc == 0, amp.err
    assert "'type': 'AmpOptimWrapper'" in amp.out and 'AmpOptimWrapper' not in plain.out


def test_auto_scale_lr_scales_by_the_batch_size(cfg):
    """batch 16 over base_batch_size 8: the LR doubles only with the flag."""
    base = ['--dry-run', '--cfg-options', 'auto_scale_lr.base_batch_size=8']
    plain, scaled = h.cli([cfg, *base]), h.cli([cfg, *base, '--auto-scale-lr'])
    assert plain.rc == scaled.rc == 0, scaled.err
    assert 'base lr 0.01,' in plain.out and 'base lr 0.02,' in scaled.out
    assert 'factor 16 / base_batch_size 8 = 2' in scaled.out
    missing = h.cli([cfg, '--dry-run', '--auto-scale-lr'])
    assert missing.rc == 2 and 'no auto_scale_lr.base_batch_size' in missing.err


def test_no_validate_trains_without_validation(cfg, tmp_path):
    work = str(tmp_path / 'work')
    result = h.cli([cfg, '--no-validate'])
    assert result.rc == 0, result.err
    assert 'keeps no best-k checkpoints, never stops early' in result.err
    rows = _rows(work)
    assert rows and not [r for r in rows if r['kind'] == 'val']
    assert sorted(n for n in os.listdir(work) if n.endswith('.pt')) == ['tiny_last.pt']
    with_val = h.cli([cfg, '--work-dir', str(tmp_path / 'v')])
    assert with_val.rc == 0
    assert [r for r in _rows(str(tmp_path / 'v')) if r['kind'] == 'val']


def test_launcher_slurm_sets_torchruns_environment():
    env = dict(SLURM_PROCID='3', SLURM_NTASKS='8', SLURM_LOCALID='1',
               SLURM_NODELIST='gpu[03-05,07],cpu1')
    setup_launcher('slurm', environ=env)
    assert (env['RANK'], env['WORLD_SIZE'], env['LOCAL_RANK']) == ('3', '8', '1')
    assert (env['MASTER_ADDR'], env['MASTER_PORT']) == ('gpu03', '29500')
    assert _first_host('node7') == 'node7' and _first_host('a[1-2],b') == 'a1'
    with pytest.raises(ConfigError, match='--launcher slurm: SLURM_PROCID, SLURM_NTASKS'):
        setup_launcher('slurm', environ={'SLURM_NODELIST': 'n1'})


def test_launcher_pytorch_and_none_check_the_environment():
    setup_launcher('pytorch', environ=dict(RANK='0', WORLD_SIZE='2'))
    setup_launcher('none', environ={})
    setup_launcher(None, environ=dict(WORLD_SIZE='2'))  # not given: torchrun's env is used
    with pytest.raises(ConfigError, match='RANK and WORLD_SIZE not set.*torchrun'):
        setup_launcher('pytorch', environ={})
    with pytest.raises(ConfigError, match=r'--launcher none, but .*\(WORLD_SIZE=2\)'):
        setup_launcher('none', environ=dict(WORLD_SIZE='2'))


def test_local_rank_in_both_spellings_sets_local_rank():
    assert parse_args(['c.py', '--local_rank=2']).local_rank == 2
    assert parse_args(['c.py', '--local-rank', '3']).local_rank == 3
    env = {}
    setup_launcher(None, 3, environ=env)
    assert env == {'LOCAL_RANK': '3'}
    env = {'LOCAL_RANK': '1'}  # torchrun's own value wins
    setup_launcher(None, 3, environ=env)
    assert env == {'LOCAL_RANK': '1'}


def test_cfg_options_given_twice_apply_both_in_order(cfg):
    result = h.cli([cfg, '--dry-run', '--cfg-options', 'train_cfg.max_epochs=1', 'seed=3',
                    '--cfg-options', 'train_cfg.max_epochs=3'])
    assert result.rc == 0, result.err
    assert "'seed': 3" in result.out and "'train_cfg': {'max_epochs': 3}" in result.out
