"""Seeding and saving/restoring every random number generator a run uses."""
import os
import random
from typing import Any, Dict, Optional

import numpy as np
import torch


def seed_everything(seed: Optional[int], deterministic: bool = False) -> None:
    """Seed python, numpy and torch (all devices); optionally ask for deterministic kernels.

    ``deterministic=True`` sets ``torch.use_deterministic_algorithms(True)`` (and the cuBLAS
    workspace variable it needs), which makes some CUDA ops slower or unavailable.
    """
    if seed is not None:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def capture_rng() -> Dict[str, Any]:
    """The state of every generator, as tensors and plain values (``weights_only``-safe)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    state = {
        # the 625 words as one tensor: pickled as one record, not 625 ints
        'python': (version, torch.tensor(internal, dtype=torch.int64), gauss),
        'numpy': {'kind': kind, 'keys': torch.from_numpy(keys.astype(np.int64)), 'pos': int(pos),
                  'has_gauss': int(has_gauss), 'cached_gaussian': float(cached)},
        'torch': torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Dict[str, Any]) -> None:
    """Undo :func:`capture_rng`."""
    version, internal, gauss = state['python']
    if torch.is_tensor(internal):
        internal = internal.tolist()
    random.setstate((version, tuple(internal), gauss))  # a tuple of ints in older checkpoints
    npy = state['numpy']
    np.random.set_state((npy['kind'], npy['keys'].numpy().astype(np.uint32), npy['pos'],
                         npy['has_gauss'], npy['cached_gaussian']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])
