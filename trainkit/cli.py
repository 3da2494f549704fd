"""Shared pieces of the command-line tools: CLI overrides, dry runs, error reporting."""
import argparse
import os
import pprint
import re
import sys
import traceback
from typing import Optional

from trainkit.checkpointing.names import last_file
from trainkit.config.reference.expand import explain_reference_keys
from trainkit.engine.from_cfg import prepare_config, to_plain_dict
from trainkit.errors import ConfigError, TrainkitError
from trainkit.optim.schedule.simulate import simulate_schedule
from trainkit.utils.suggest import close_matches


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` that suggests the option a mistyped one was meant to be.

    ``tools/train.py cfg.py --resme`` exits with code 2 and ``unrecognized arguments: --resme
    — did you mean '--resume'?``; a typo in a required option
    (``vis_scheduler.py cfg.py --iter-per-epoch 10``) gets the same hint beside "required".
    """

    def parse_known_args(self, args=None, namespace=None):
        self._argv = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def _unknown_options(self, words):
        options = [s for action in self._actions for s in action.option_strings]
        return [w for w in words if w.startswith('-') and
                not any(o.startswith(w.split('=')[0]) for o in options)], options

    def error(self, message: str):
        prefix = 'unrecognized arguments: '
        if message.startswith(prefix):
            words = message[len(prefix):].split()
        elif message.startswith('the following arguments are required'):
            words = getattr(self, '_argv', [])
        else:
            words = []
        unknown, options = self._unknown_options(words)
        hints = [(word, close_matches(word.split('=')[0], options, n=1)) for word in unknown]
        hints = [(word.split('=')[0], found[0]) for word, found in hints if found]
        if len(hints) == 1:
            message += f' — did you mean {hints[0][1]!r}' + (
                '?' if message.startswith(prefix) else f' (not {hints[0][0]})?')
        elif hints:
            message += ' — did you mean ' + ', '.join(
                f'{meant!r} (for {word})' for word, meant in hints) + '?'
        super().error(message)


def _set(cfg, key: str, value, reference_key: str = None) -> None:
    """Set a top-level key, or its reference-style twin when the config uses ``trainer``."""
    trainer = cfg.get('trainer')
    if isinstance(trainer, dict) and (reference_key or key) in trainer:
        trainer[reference_key or key] = value
    else:
        cfg[key] = value
        if reference_key and reference_key in cfg:
            cfg[reference_key] = value


def _record_custom_imports(cfg, modules) -> None:
    if not modules:
        return
    spec = dict(cfg.get('custom_imports') or {})
    imports = spec.get('imports', [])
    imports = [imports] if isinstance(imports, str) else list(imports)
    spec['imports'] = imports + [m for m in modules if m not in imports]
    cfg['custom_imports'] = spec


def apply_cli_overrides(cfg, args) -> None:
    """Apply ``--work-dir``, ``--seed``, ``--resume``, ``--amp``, ``--auto-scale-lr``,
    ``--no-validate`` and ``--custom-imports`` to a loaded config (so that the config saved in
    the work dir repeats the run).

    MMEngine's training-command flags mean what they mean there: ``--resume auto`` continues
    this run's ``{run_name}_last.pt`` like a bare ``--resume``, or starts from scratch when
    there is none (:func:`settle_auto_resume`), ``--resume PATH`` continues PATH,
    ``--auto-scale-lr`` sets ``auto_scale_lr.enable=True`` (the config must give
    ``base_batch_size``), ``--no-validate`` drops ``val_dataloader`` (no validation, so no
    best-k files and no early stopping).
    """
    _record_custom_imports(cfg, getattr(args, 'custom_imports', None) or [])
    if args.work_dir is not None:
        _set(cfg, 'work_dir', args.work_dir, 'save_dir')
    if args.seed is not None:
        _set(cfg, 'seed', args.seed)
    if args.resume == 'auto':
        args.resume, args.auto_resume = True, True
    if getattr(args, 'auto_scale_lr', False):
        section = cfg.get('auto_scale_lr')
        if not isinstance(section, dict) or section.get('base_batch_size') is None:
            raise ConfigError('--auto-scale-lr: the config has no auto_scale_lr.base_batch_size '
                              '(the total batch size its learning rate was tuned for); add '
                              'auto_scale_lr = dict(base_batch_size=256) to the config or '
                              '--cfg-options auto_scale_lr.base_batch_size=256')
        section['enable'] = True
    if getattr(args, 'no_validate', False):
        cfg['val_dataloader'] = None
        print('notice: --no-validate: val_dataloader dropped, so this run has no validation '
              'rows, keeps no best-k checkpoints, never stops early and steps no plateau '
              'scheduler (they all need validation metrics)', file=sys.stderr, flush=True)
    if args.resume is not None:
        # `--resume CKPT` continues CKPT; a bare `--resume` continues this run's own
        # {run_name}_last.pt, whatever ckpt_file says (in a finetune config ckpt_file names
        # the pretrained weights, which must not be resumed from).
        _set(cfg, 'resume', args.resume)
        if args.resume is True:
            _set(cfg, 'ckpt_file', None)
            if cfg.get('load_from') is not None:  # MMEngine's key of it, cleared as MMEngine does
                cfg['load_from'] = None
    if args.amp:
        wrapper = cfg.get('optim_wrapper')
        if wrapper is None:
            cfg['optim_wrapper'] = {'type': 'AmpOptimWrapper'}
        elif wrapper.get('type', 'OptimWrapper') == 'OptimWrapper':
            wrapper['type'] = 'AmpOptimWrapper'


def settle_auto_resume(runner, args) -> None:
    """``--resume auto`` with no ``{run_name}_last.pt`` in the work dir starts from scratch
    (MMEngine's behaviour; said on stderr), so a job restarted by a scheduler needs one
    command line for its first start and every restart."""
    path = os.path.join(runner.work_dir, last_file(runner.run_name))
    if getattr(args, 'auto_resume', False) and not os.path.isfile(path):
        runner.resume = False
        print(f'--resume auto: {path} does not exist, so this run starts from scratch',
              file=sys.stderr, flush=True)


LAUNCHERS = ('none', 'pytorch', 'slurm')


def _first_host(nodelist: str) -> str:
    """The first host of a Slurm node list: ``'gpu[03-05,07],cpu1'`` -> ``'gpu03'``."""
    match = re.match(r'([^,\[]+)(?:\[([^\]]+)\])?', nodelist.strip())
    if not match:
        return nodelist
    prefix, ranges = match.groups()
    return prefix + (re.split('[,-]', ranges)[0] if ranges else '')


def setup_launcher(launcher: Optional[str] = None, local_rank=None, environ=os.environ) -> None:
    """MMEngine's ``--launcher`` and ``--local-rank``, as torchrun's environment.

    ``None`` (not given): torchrun's environment if there is one, else one process;
    ``none``: one process (an error under torchrun, which would start N identical runs);
    ``pytorch``: started by ``torchrun`` (``RANK``/``WORLD_SIZE`` must be set); ``slurm``:
    ``srun`` — ``SLURM_PROCID``/``SLURM_NTASKS``/``SLURM_LOCALID`` become ``RANK``/
    ``WORLD_SIZE``/``LOCAL_RANK``, the first host of ``SLURM_NODELIST`` ``MASTER_ADDR`` (port
    29500 unless ``MASTER_PORT`` is set). ``--local-rank N`` (passed by the old
    ``torch.distributed.launch``) sets ``LOCAL_RANK`` if it is not set.
    """
    if local_rank is not None:
        environ.setdefault('LOCAL_RANK', str(local_rank))
    world = environ.get('WORLD_SIZE')
    if launcher == 'none':
        if world not in (None, '', '1'):
            raise ConfigError(f'--launcher none, but this process was started by a distributed '
                              f'launcher (WORLD_SIZE={world}): each of the {world} processes '
                              f'would train alone; use --launcher pytorch (or leave it out)')
    elif launcher == 'pytorch':
        missing = [k for k in ('RANK', 'WORLD_SIZE') if not environ.get(k)]
        if missing:
            raise ConfigError(f'--launcher pytorch: {" and ".join(missing)} not set, so this '
                              f'process was not started by torchrun; start it with torchrun '
                              f'--nproc_per_node=N tools/train.py CONFIG --launcher pytorch, or '
                              f'use --launcher none')
    elif launcher == 'slurm':
        needed = ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_LOCALID', 'SLURM_NODELIST')
        missing = [k for k in needed if not environ.get(k)]
        if missing:
            raise ConfigError(f'--launcher slurm: {", ".join(missing)} not set, so this is not a '
                              f'Slurm job step; start it with srun (one task per GPU), or use '
                              f'--launcher none')
        environ['RANK'], environ['WORLD_SIZE'] = environ['SLURM_PROCID'], environ['SLURM_NTASKS']
        environ['LOCAL_RANK'] = environ['SLURM_LOCALID']
        environ.setdefault('MASTER_ADDR', _first_host(environ['SLURM_NODELIST']))
        environ.setdefault('MASTER_PORT', '29500')


def report_interrupt(err: KeyboardInterrupt, debug: bool, what_now: str = '') -> int:
    """Ctrl-C: exit code 130 with what was kept and how to go on (``--debug`` re-raises)."""
    if debug:
        raise err
    print(f'interrupted{": " + what_now if what_now else ""}', file=sys.stderr)
    return 130


def report_error(err: BaseException, debug: bool) -> int:
    """Print a user error (exit code 2) or re-raise anything else."""
    if not isinstance(err, TrainkitError) or debug:
        if isinstance(err, TrainkitError):
            traceback.print_exc()
            return err.exit_code
        raise err
    print(f'error: {err}', file=sys.stderr)
    return err.exit_code


def describe_param_groups(runner) -> str:
    lines = ['Parameter groups:']
    for i, group in enumerate(runner.optim_wrapper.optimizer.param_groups):
        numel = sum(p.numel() for p in group['params'])
        lines.append(f'  group {i}: {len(group["params"])} tensors, {numel:,} parameters, '
                     f'base lr {group.get("initial_lr", group["lr"]):.4g}, weight_decay '
                     f'{group.get("weight_decay", 0):.4g}')
    frozen = [p for p in runner.unwrapped_model.parameters() if not p.requires_grad]
    lines.append(f'  frozen: {len(frozen)} tensors, {sum(p.numel() for p in frozen):,} '
                 f'parameters (not in the optimizer)')
    return '\n'.join(lines)


def dry_run(runner, cfg, steps: int = 10) -> None:
    """Check what a run checks before its first step (monitored metrics, the checkpoint to
    resume or load: it must fit the model), print the resolved config, the parameter groups
    and the first learning rates. Nothing is written."""
    runner.check_monitors()

    notes = explain_reference_keys(to_plain_dict(cfg))
    if notes:
        print('Trainer section (reference style) expanded into canonical keys:')
        print('\n'.join(f'  {line}' for line in notes))
    print('Resolved config (after trainer-section expansion and overrides):')
    print(pprint.pformat(prepare_config(cfg, notices=False), sort_dicts=False, width=100))
    print(describe_param_groups(runner))
    rows = simulate_schedule(runner.optim_wrapper, runner.schedule, runner.max_epochs,
                             runner.steps_per_epoch, limit=steps)
    print(f'First {len(rows)} optimizer steps ({runner.steps_per_epoch} per epoch):')
    for row in rows:
        lrs = ', '.join(f'{v:.4e}' for k, v in row.items() if k.startswith('lr_'))
        print(f'  step {row["step"]:>4}  epoch {row["epoch"]:.3f}  lr {lrs}')
    # last: a resume replaces the schedule state the simulation above moved
    runner.load_checkpoint_once()
    print('Dry run: nothing was trained or written.')
