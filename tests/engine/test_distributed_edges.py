"""DDP edge cases (2 gloo processes under torchrun): a NaN loss on one rank only, and a rank
whose validation shard is empty. Both used to desynchronize the ranks and crash the run."""
import json
import os
import subprocess
import sys

import pytest

from tests.support.configs import ROOT, tiny_config
from trainkit.checkpointing.format import load_checkpoint
from trainkit.engine.runner import Runner


def test_nan_on_one_rank_is_skipped_by_all_and_an_empty_val_shard_joins_the_reduction(tmp_path):
    cfg = tiny_config(
        tmp_path / 'work', custom_imports=dict(imports=['tests.support.components']),
        model=dict(type='NaNOnRankOne'), train_cfg=dict(max_epochs=1),
        train_dataloader=dict(dataset=dict(type='SyntheticRegression', num_samples=64,
                                           in_features=4), batch_size=8, shuffle=True),
        # one validation sample: rank 1 validates nothing
        val_dataloader=dict(dataset=dict(type='SyntheticRegression', num_samples=1,
                                         in_features=4, split='val'), batch_size=8),
        default_hooks=dict(logger=dict(type='LoggerHook', log_steps=1, progress_bar=False),
                           nan_guard=dict(type='NanGuardHook', action='skip')))
    cfg_path = tmp_path / 'ddp.py'
    cfg_path.write_text('\n'.join(f'{k} = {v!r}' for k, v in cfg.items()))
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=ROOT)
    run = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
                          '--standalone', os.path.join(ROOT, 'tools', 'train.py'),
                          str(cfg_path)], capture_output=True, text=True, cwd=tmp_path, env=env,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    work = tmp_path / 'work'
    text = open(work / 'loss.log', encoding='utf-8').read()
    # rank 0's loss was finite, yet it skipped with rank 1: 4 batches per rank, 3 steps
    assert text.count('batch skipped') == 1
    state = load_checkpoint(str(work / 'tiny_last.pt'))
    assert state['meta']['step'] == 3
    rows = [json.loads(line) for line in open(work / 'loss.jsonl')]
    val = [r for r in rows if r['kind'] == 'val'][-1]
    single = Runner.from_cfg(dict(cfg, work_dir=str(tmp_path / 'single')))
    single.unwrapped_model.load_state_dict(state['model'])
    assert single.val()['y_mae'] == pytest.approx(val['y_mae'], rel=1e-6)
