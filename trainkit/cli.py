"""Shared pieces of the command-line tools: CLI overrides, dry runs, error reporting."""
import argparse
import pprint
import sys
import traceback

from trainkit.config.reference.expand import explain_reference_keys
from trainkit.engine.from_cfg import prepare_config, to_plain_dict
from trainkit.errors import TrainkitError
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
    """Apply ``--work-dir``, ``--seed``, ``--resume``, ``--amp`` and ``--custom-imports``
    to a loaded config (so that the config saved in the work dir repeats the run)."""
    _record_custom_imports(cfg, getattr(args, 'custom_imports', None) or [])
    if args.work_dir is not None:
        _set(cfg, 'work_dir', args.work_dir, 'save_dir')
    if args.seed is not None:
        _set(cfg, 'seed', args.seed)
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
    """Print the resolved config, the parameter groups and the first learning rates."""

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
    print('Dry run: nothing was trained or written.')
