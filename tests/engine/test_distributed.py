"""Two-process DDP on CPU (gloo) launched with torchrun, checked against one process.

Both ranks must also *exit* cleanly: a process group left to interpreter finalization made a
gloo rank abort (SIGABRT, "terminate called without an active exception") or hang after a
correct run, in about one run in four on a loaded machine; ``tools/train.py`` now leaves the
group explicitly (``trainkit.utils.dist.shutdown_distributed``).
"""
import json
import os
import subprocess
import sys

import pytest
import torch

from tests.support.configs import ROOT, tiny_config
from trainkit.checkpointing.format import load_checkpoint
from trainkit.engine.runner import Runner


def test_two_process_gloo_run_matches_single_process_evaluation(tmp_path):
    # 37 validation samples: uneven shards, so padding would show up in the metrics
    cfg = tiny_config(tmp_path / 'work', val_dataloader=dict(
        dataset=dict(type='SyntheticRegression', num_samples=37, in_features=4, split='val'),
        batch_size=8), train_cfg=dict(max_epochs=2))
    cfg_path = tmp_path / 'ddp.py'
    cfg_path.write_text('\n'.join(f'{k} = {v!r}' for k, v in cfg.items()))
    env = dict(os.environ, OMP_NUM_THREADS='1')
    run = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
                          '--standalone', os.path.join(ROOT, 'tools', 'train.py'),
                          str(cfg_path)], capture_output=True, text=True, cwd=tmp_path, env=env,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert 'terminate called' not in run.stderr
    work = tmp_path / 'work'
    state = load_checkpoint(str(work / 'tiny_last.pt'))
    assert state['meta']['world_size'] == 2 and state['meta']['epoch'] == 2
    # 64 samples over 2 ranks, batch 16: 2 steps per epoch per rank
    assert state['meta']['step'] == 4
    rows = [json.loads(line) for line in open(work / 'loss.jsonl')]
    ddp_val = [r for r in rows if r['kind'] == 'val'][-1]
    # only rank 0 wrote files: one line per row, not two
    assert sum(r['kind'] == 'val' for r in rows) == 2

    single = Runner.from_cfg(dict(cfg, work_dir=str(tmp_path / 'single')))
    single.unwrapped_model.load_state_dict(state['model'])
    metrics = single.val()
    # equal up to float32 round-off of different batch shapes; averaging per-rank averages or
    # padding the 37 samples to 38 would be off by ~1e-3
    for key in ('y_mae', 'y_rmse', 'weighted_mae'):
        assert metrics[key] == pytest.approx(ddp_val[key], rel=1e-6), key
    # and the resume path works the same under DDP
    resumed = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
                              '--standalone', os.path.join(ROOT, 'tools', 'train.py'),
                              str(cfg_path), '--resume', '--cfg-options',
                              'train_cfg.max_epochs=3'],
                             capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert load_checkpoint(str(work / 'tiny_last.pt'))['meta']['epoch'] == 3


def test_shutdown_leaves_the_group_and_is_idempotent(tmp_path):
    """``shutdown_distributed`` (the end of ``tools/train.py``) leaves a joined group while the
    interpreter is alive (a group left to interpreter exit can abort or hang a gloo rank),
    and is a no-op without one."""
    import torch.distributed as dist

    from trainkit.utils.dist import shutdown_distributed
    shutdown_distributed()  # nothing joined: nothing happens
    store = dist.FileStore(str(tmp_path / 'store'), 1)
    dist.init_process_group('gloo', store=store, rank=0, world_size=1)
    try:
        tensor = torch.ones(2)
        dist.all_reduce(tensor)
        assert tensor.tolist() == [1.0, 1.0]
        shutdown_distributed()
        assert not dist.is_initialized()
        shutdown_distributed()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
