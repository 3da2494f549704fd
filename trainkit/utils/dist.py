"""Distributed helpers: set-up from torchrun's environment, rank checks, reductions.

``torchrun --nproc_per_node=N tools/train.py CFG`` sets ``WORLD_SIZE``/``RANK``/
``LOCAL_RANK``; :func:`init_distributed` then joins the process group (nccl on CUDA, gloo on
CPU). Without those variables everything runs in one process and the helpers are no-ops.

A process group trainkit joined is also left by trainkit: :func:`shutdown_distributed` at the
end of ``tools/train.py`` and, for gloo, an ``atexit`` handler for every other way out (an
error, a Runner used from Python). Without it DDP's reducer keeps the group alive into
interpreter finalization, where gloo's destructor joins worker threads that wait for the GIL:
a rank hangs or aborts ("terminate called without an active exception", SIGABRT) after
training finished correctly (docs/reliability.md). NCCL is left alone at exit: destroying it
while another rank still waits in a collective could hang the failing rank.
"""
import atexit
import gc
import os
from typing import Tuple

import torch
import torch.distributed as dist


def init_distributed(device_type: str) -> Tuple[int, int, int]:
    """Join the process group if launched by torchrun; return (rank, world_size, local_rank)."""
    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    if world_size <= 1:
        return 0, 1, 0
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    if not dist.is_initialized():
        backend = 'nccl' if device_type == 'cuda' else 'gloo'
        if device_type == 'cuda':
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
        if backend == 'gloo':
            atexit.register(_shutdown_at_exit)
    return dist.get_rank(), dist.get_world_size(), local_rank


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over all ranks in place (a no-op in a single process)."""
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_object(obj, src: int = 0):
    """Send a picklable object from ``src`` to every rank."""
    if not is_distributed():
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=src)
    return holder[0]


def shutdown_distributed(synchronize: bool = True) -> None:
    """Leave the process group if one is joined (a no-op otherwise, safe to call twice).

    Call it after training, once the Runner (whose DDP wrapper holds the group) is released:
    with ``synchronize`` every rank first waits at a barrier, so no collective is in flight
    on any rank; unreachable objects (DDP's reducer) are collected; then the group is
    destroyed while the interpreter is fully alive.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    if synchronize and dist.get_world_size() > 1:
        dist.barrier()
    gc.collect()
    dist.destroy_process_group()


def _shutdown_at_exit() -> None:
    shutdown_distributed(synchronize=False)  # another rank may be gone: no barrier
