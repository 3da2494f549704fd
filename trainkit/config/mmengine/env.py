"""MMEngine's ``env_cfg``: checked and noted before validation, applied when the run is built.

::

    env_cfg = dict(
        cudnn_benchmark=False,                        # torch.backends.cudnn.benchmark
        mp_cfg=dict(mp_start_method='fork',           # torch.multiprocessing start method
                    opencv_num_threads=0),            # cv2.setNumThreads, if OpenCV is there
        dist_cfg=dict(backend='nccl'),                # trainkit: nccl on CUDA, gloo on CPU
        resource_limit=4096,                          # soft limit of open files (Linux)
    )

As in MMEngine, ``deterministic=True`` (``randomness``) switches cudnn's benchmark off again.
"""
import importlib.util
import multiprocessing
from typing import Any, Dict, Optional

import torch

from trainkit.config.mmengine.report import CarryOver
from trainkit.utils.suggest import did_you_mean, unknown_keys

ENV_KEYS = ('cudnn_benchmark', 'mp_cfg', 'dist_cfg', 'resource_limit')
MP_KEYS = ('mp_start_method', 'opencv_num_threads')
START_METHODS = ('fork', 'spawn', 'forkserver')
DIST_BACKENDS = ('nccl', 'gloo', 'mpi', 'ucc', 'hccl', 'cncl', 'mccl')


def check_env_cfg(cfg: Dict[str, Any], report: CarryOver) -> None:
    """Report malformed ``env_cfg`` keys; note what trainkit does not use."""
    env = cfg.get('env_cfg')
    if env is None:
        return
    if not isinstance(env, dict):
        report.problem(f'env_cfg: expected a dict such as dict(cudnn_benchmark=False), got '
                       f'{env!r}')
        return
    _known(env, ENV_KEYS, 'env_cfg', report)
    if 'cudnn_benchmark' in env and not isinstance(env['cudnn_benchmark'], bool):
        report.problem(f"env_cfg.cudnn_benchmark: expected True or False, got "
                       f"{env['cudnn_benchmark']!r}")
    elif env.get('cudnn_benchmark') and cfg.get('deterministic'):
        report.notice('env_cfg.cudnn_benchmark', 'True ignored: deterministic=True switches '
                                                 "cudnn's benchmark off (as in MMEngine)")
    _check_mp(env.get('mp_cfg'), report)
    _check_dist(env.get('dist_cfg'), cfg.get('device'), report)
    limit = env.get('resource_limit')
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or
                              limit < 1):
        report.problem(f'env_cfg.resource_limit: expected a number of open files >= 1, got '
                       f'{limit!r}')


def _known(section: Dict, keys, where: str, report: CarryOver) -> None:
    for problem in unknown_keys(section, keys, where):
        report.problem(problem)


def _check_mp(mp_cfg: Any, report: CarryOver) -> None:
    if mp_cfg is None:
        return
    if not isinstance(mp_cfg, dict):
        report.problem(f'env_cfg.mp_cfg: expected dict(mp_start_method=..., '
                       f'opencv_num_threads=...), got {mp_cfg!r}')
        return
    _known(mp_cfg, MP_KEYS, 'env_cfg.mp_cfg', report)
    method = mp_cfg.get('mp_start_method')
    if method is not None and method not in multiprocessing.get_all_start_methods():
        report.problem(f'env_cfg.mp_cfg.mp_start_method: {method!r} is not a start method on '
                       f'this system{did_you_mean(str(method), START_METHODS)}; use one of '
                       f'{", ".join(multiprocessing.get_all_start_methods())}')
    if 'opencv_num_threads' in mp_cfg and importlib.util.find_spec('cv2') is None:
        report.notice('env_cfg.mp_cfg.opencv_num_threads', 'ignored: OpenCV is not installed, '
                                                           'so there are no OpenCV threads')


def _check_dist(dist_cfg: Any, device: Optional[str], report: CarryOver) -> None:
    if dist_cfg is None:
        return
    if not isinstance(dist_cfg, dict):
        report.problem(f"env_cfg.dist_cfg: expected dict(backend='nccl'), got {dist_cfg!r}")
        return
    backend = dist_cfg.get('backend')
    if backend is not None and backend not in DIST_BACKENDS:
        report.problem(f'env_cfg.dist_cfg.backend: {backend!r} is not a torch.distributed '
                       f'backend{did_you_mean(str(backend), DIST_BACKENDS)}')
        return
    device_type = (device or ('cuda' if torch.cuda.is_available() else 'cpu')).split(':')[0]
    used = 'nccl' if device_type == 'cuda' else 'gloo'
    if backend is not None and backend != used:
        report.notice('env_cfg.dist_cfg.backend', f'{backend!r} ignored: under torchrun trainkit '
                                                  f'joins with {used!r} on {device_type}')
    others = [key for key in dist_cfg if key != 'backend']
    if others:
        report.notice('env_cfg.dist_cfg', f'{", ".join(others)} ignored: the process group is '
                                          f"set up from torchrun's environment")


def apply_env_cfg(env: Optional[Dict[str, Any]], deterministic: bool = False) -> None:
    """Set what ``env_cfg`` asks for in this process (call once, before the data loaders)."""
    if not env:
        return
    if 'cudnn_benchmark' in env:
        torch.backends.cudnn.benchmark = bool(env['cudnn_benchmark']) and not deterministic
    mp_cfg = env.get('mp_cfg') or {}
    method = mp_cfg.get('mp_start_method')
    if method is not None and multiprocessing.get_start_method(allow_none=True) != method:
        torch.multiprocessing.set_start_method(method, force=True)
    if 'opencv_num_threads' in mp_cfg and importlib.util.find_spec('cv2') is not None:
        import cv2  # noqa: PLC0415 - optional, only when a config asks for it
        cv2.setNumThreads(int(mp_cfg['opencv_num_threads']))
    if env.get('resource_limit') is not None:
        _raise_open_file_limit(int(env['resource_limit']))


def _raise_open_file_limit(limit: int) -> None:
    """As MMEngine: the soft limit of open files becomes at least ``limit`` (up to the hard
    limit; Linux and macOS only)."""
    try:
        import resource  # noqa: PLC0415 - POSIX only
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(limit, soft)
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if wanted != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
