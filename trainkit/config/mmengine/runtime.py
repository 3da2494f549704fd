"""MMEngine runtime keys mapped onto trainkit's before validation.

``load_from`` is trainkit's ``ckpt_file`` (weights only with ``resume=False``, continued with
``resume=True``, as MMEngine reads it); ``randomness=dict(seed=..., deterministic=...)`` is
trainkit's ``seed`` and ``deterministic``; ``experiment_name`` names the run (``run_name``);
``launcher``, ``log_level`` and ``log_processor`` are checked and noted, e.g.::

    load_from = 'work_dirs/pretrain/trainkit_last.pt'
    randomness = dict(seed=0, deterministic=False)
    launcher = 'pytorch'
    log_level = 'INFO'
    log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)
"""
from typing import Any, Dict

from trainkit.config.mmengine.report import CarryOver
from trainkit.utils.signature import Signature
from trainkit.utils.suggest import did_you_mean, unknown_keys

RANDOMNESS_KEYS = ('seed', 'deterministic', 'diff_rank_seed')
LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
LOG_LEVELS = ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')
# the MMEngine top-level keys this package maps, checks or notes (beside validate.TOP_LEVEL_KEYS)
MMENGINE_KEYS = ('load_from', 'randomness', 'experiment_name', 'launcher', 'log_processor',
                 'val_evaluator', 'test_evaluator', 'test_dataloader', 'model_wrapper_cfg',
                 'compile')
# every top-level key MMEngine's Runner reads (the table in docs/config.md, "MMEngine configs")
MMENGINE_RUNTIME_KEYS = (
    'model', 'work_dir', 'experiment_name', 'train_dataloader', 'val_dataloader',
    'test_dataloader', 'train_cfg', 'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper',
    'param_scheduler', 'val_evaluator', 'test_evaluator', 'default_hooks', 'custom_hooks',
    'load_from', 'resume', 'launcher', 'env_cfg', 'log_processor', 'log_level', 'visualizer',
    'default_scope', 'randomness', 'model_wrapper_cfg', 'compile', 'custom_imports')
DDP_WRAPPERS = ('MMDistributedDataParallel', 'DistributedDataParallel')


def map_runtime_keys(cfg: Dict[str, Any], report: CarryOver) -> None:
    """Rewrite MMEngine's runtime keys into trainkit's, in place."""
    load_from = cfg.pop('load_from', None)
    if load_from is not None:
        if cfg.get('ckpt_file') is None:  # unset, or None from a trainkit runtime base
            cfg['ckpt_file'] = load_from
        elif cfg['ckpt_file'] != load_from:
            report.problem(f"load_from={load_from!r} and ckpt_file={cfg['ckpt_file']!r} name "
                           f'different checkpoints; keep one')
    _randomness(cfg, report)
    _experiment_name(cfg, report)
    _launcher(cfg.pop('launcher', None), report)
    _log_level(cfg.get('log_level'), report)
    _log_processor(cfg.pop('log_processor', None), report)
    _model_wrapper_cfg(cfg, report)
    if cfg.pop('compile', False):
        report.notice('compile', 'ignored: trainkit does not torch.compile the model (the '
                                 'results are the same, only the speed differs)')


def _randomness(cfg: Dict[str, Any], report: CarryOver) -> None:
    randomness = cfg.pop('randomness', None)
    if randomness is None:
        return
    if not isinstance(randomness, dict):
        report.problem(f'randomness: got {randomness!r}, expected a dict such as '
                       f'dict(seed=0, deterministic=False)')
        return
    for problem in unknown_keys(randomness, RANDOMNESS_KEYS, 'randomness'):
        report.problem(problem)
    if randomness.get('diff_rank_seed'):
        report.problem('randomness.diff_rank_seed=True: trainkit seeds every rank alike and '
                       'does not offer a per-rank seed yet; remove it or set it to False')
    for key in ('seed', 'deterministic'):
        if key in randomness:
            cfg[key] = randomness[key]


def _experiment_name(cfg: Dict[str, Any], report: CarryOver) -> None:
    name = cfg.pop('experiment_name', None)
    if name is None:
        return
    if not isinstance(name, str):
        report.problem(f'experiment_name: expected a str, got {name!r}')
    elif cfg.get('run_name') in (None, name):
        cfg['run_name'] = name
    else:
        report.notice('experiment_name', f"{name!r} ignored: run_name={cfg['run_name']!r} "
                                         f'names the run and its files')


def _launcher(launcher: Any, report: CarryOver) -> None:
    if launcher is None or launcher in ('none', 'pytorch'):
        return  # trainkit joins a process group whenever torchrun's variables are set
    if launcher in ('slurm', 'mpi'):
        report.problem(f"launcher: {launcher!r} is not supported; trainkit joins the process "
                       f"group from torchrun's environment: start each node with torchrun "
                       f"(e.g. srun ... torchrun --nnodes ...) and set launcher='pytorch'")
    else:
        report.problem(f'launcher: {launcher!r} is not a launcher'
                       f'{did_you_mean(str(launcher), LAUNCHERS)}; use one of '
                       f'{", ".join(LAUNCHERS)}')


def _log_level(level: Any, report: CarryOver) -> None:
    if level is None or isinstance(level, int) or (isinstance(level, str) and
                                                   level.upper() == 'INFO'):
        return
    if not isinstance(level, str) or level.upper() not in LOG_LEVELS:
        report.problem(f'log_level: {level!r} is not a log level'
                       f'{did_you_mean(str(level), LOG_LEVELS)}; use one of '
                       f'{", ".join(LOG_LEVELS)}')
        return
    report.notice('log_level', f"{level!r} ignored: trainkit's log has one level (its rows and "
                               f'info lines are always written; errors end the run)')


def _log_processor(processor: Any, report: CarryOver) -> None:
    if processor is None:
        return
    if not isinstance(processor, dict):
        report.problem(f'log_processor: expected dict(window_size=..., by_epoch=...), got '
                       f'{processor!r}')
        return
    from mmengine.runner import LogProcessor  # noqa: PLC0415 - only for MMEngine configs
    names = [n for n in Signature(LogProcessor).names() if n != 'self']
    given = [key for key in processor if key != 'type']
    unknown = [key for key in given if key not in names]
    for problem in unknown_keys(unknown, names, 'log_processor'):
        report.problem(problem)
    if processor.get('type', 'LogProcessor') not in ('LogProcessor', LogProcessor):
        report.problem(f"log_processor.type: only MMEngine's 'LogProcessor' is known, got "
                       f"{processor['type']!r}")
    if given and not unknown:
        report.notice('log_processor', f'{", ".join(given)} ignored: trainkit formats its own '
                                       f'rows (a train row shows that step, the epoch row the '
                                       f'epoch mean; both show epoch and step)')


def _model_wrapper_cfg(cfg: Dict[str, Any], report: CarryOver) -> None:
    """``model_wrapper_cfg=dict(type='MMDistributedDataParallel', find_unused_parameters=True)``
    is trainkit's ``ddp_cfg`` (the arguments of DistributedDataParallel)."""
    wrapper = cfg.pop('model_wrapper_cfg', None)
    if wrapper is None:
        return
    if not isinstance(wrapper, dict):
        report.problem(f'model_wrapper_cfg: expected dict(type=..., ...), got {wrapper!r}')
        return
    kwargs = dict(wrapper)
    kind = kwargs.pop('type', 'MMDistributedDataParallel')
    if kind not in DDP_WRAPPERS:
        report.problem(f'model_wrapper_cfg.type: {kind!r} is not supported; trainkit wraps the '
                       f'model in DistributedDataParallel (model_wrapper_cfg with type '
                       f"'MMDistributedDataParallel' maps onto ddp_cfg)")
        return
    if kwargs.pop('detect_anomalous_params', False):
        report.notice('model_wrapper_cfg.detect_anomalous_params', 'ignored: a debugging aid of '
                                                                   "MMEngine's wrapper")
    if cfg.get('ddp_cfg') not in (None, kwargs):
        report.problem('model_wrapper_cfg and ddp_cfg both give the DDP arguments; keep one')
        return
    cfg['ddp_cfg'] = kwargs
