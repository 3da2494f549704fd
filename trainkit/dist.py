"""Distributed helpers: set-up from torchrun's environment, rank checks, reductions.

``torchrun --nproc_per_node=N tools/train.py CFG`` sets ``WORLD_SIZE``/``RANK``/
``LOCAL_RANK``; :func:`init_distributed` then joins the process group (nccl on CUDA, gloo on
CPU). Without those variables everything runs in one process and the helpers are no-ops.
"""
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


def barrier() -> None:
    if is_distributed():
        dist.barrier()
