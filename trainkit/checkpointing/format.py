"""Checkpoint files: the format, atomic writing and safe loading.

A trainkit checkpoint is a dict of tensors and plain Python values (loadable with
``torch.load(path, weights_only=True)``) with these keys::

    version    CHECKPOINT_VERSION
    meta       epoch, step, iter, run_name, saved_at, trainkit/torch versions, and for a best-k
               file the monitored value and slot
    model      the raw (not EMA) model weights
    optimizer  the optimizer wrapper's state (optimizer, loss scaler)
    schedule   the parameter schedulers and the warmup
    hooks      {hook name: hook state}; the EMA hook's state holds the EMA weights
               (``ema_state_dict``) and its update count
    rng        python, numpy, torch (and CUDA) generator states
    log        byte offsets of the text and JSON logs (a resume truncates them there)
    config     the resolved config text

Files are written to a temporary file in the same directory, flushed, fsynced and renamed over
the target, so a crash or a full disk never leaves a half-written file in place of a good one.
Temp files of a process that was killed mid-write are deleted by the next successful write of
the same file.
"""
import io
import os
import pickle
import re
from typing import Any, Dict, Optional

import torch

from trainkit.errors import CheckpointError

CHECKPOINT_VERSION = 1
KEY_VERSION = 'version'
KEY_META = 'meta'
KEY_MODEL = 'model'
KEY_OPTIMIZER = 'optimizer'
KEY_SCHEDULE = 'schedule'
KEY_HOOKS = 'hooks'
KEY_RNG = 'rng'
KEY_LOG = 'log'
KEY_CONFIG = 'config'
EMA_WEIGHTS_FIELD = 'ema_state_dict'


def serialize(state: Dict[str, Any]) -> bytes:
    """Serialize ``state`` once so that several files can be written from the same bytes."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def atomic_write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` always holds either the old or the new file.

    Raises:
        CheckpointError: the write failed (e.g. no space left); ``path`` is untouched.
    """
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f'.{os.path.basename(path)}.tmp-{os.getpid()}')
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        _remove_quietly(tmp)
        raise CheckpointError(f'could not write checkpoint {path}: {err.strerror or err}. '
                              f'The previous file at that path (if any) is intact; free some '
                              f'space (or fix the permissions) and continue with --resume.'
                              ) from err
    _fsync_directory(directory)
    _remove_stale_temp_files(directory, os.path.basename(path))


def _remove_stale_temp_files(directory: str, name: str) -> None:
    """Delete temp files of ``name`` left by processes killed while writing them."""
    prefix = f'.{name}.tmp-'
    for entry in os.listdir(directory):
        pid = entry[len(prefix):]
        if entry.startswith(prefix) and pid.isdigit() and not _process_alive(int(pid)):
            _remove_quietly(os.path.join(directory, entry))


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to another user
        pass
    return True


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _fsync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str, map_location='cpu', require_trainkit: bool = True) -> Dict:
    """Load a checkpoint safely (``weights_only=True``) with errors that say what is wrong.

    Args:
        path: the file.
        map_location: passed to ``torch.load``.
        require_trainkit: if False, a plain state dict (``{name: tensor}``) is accepted too.

    Raises:
        CheckpointError: missing, empty, truncated or foreign file, or one that would need
            arbitrary unpickling.
    """
    if os.path.isdir(path):
        raise CheckpointError(f'checkpoint {path!r} is a directory, not a file; give the .pt '
                              f'file inside it (e.g. {os.path.join(path, "<run_name>_last.pt")!r})'
                              f', or use --work-dir {path} with a bare --resume')
    if not os.path.isfile(path):
        raise CheckpointError(f'checkpoint {path!r} does not exist; check the path given as '
                              f'ckpt_file or to --resume (plain --resume continues '
                              f'{{work_dir}}/{{run_name}}_last.pt)')
    if os.path.getsize(path) == 0:
        raise CheckpointError(f'checkpoint {path!r} is empty (0 bytes): it was not written '
                              f'completely; use another checkpoint')
    _check_magic(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(_unsafe_message(path, str(err))) from None
    except Exception as err:  # noqa: BLE001 - any decoding failure means a damaged file
        detail = _first_line(str(err)) or type(err).__name__
        raise CheckpointError(f'checkpoint {path!r} is truncated or not a PyTorch file '
                              f'({type(err).__name__}: {detail}); use an earlier checkpoint '
                              f'(e.g. a best-k file in the same directory)') from None
    return _check_format(path, state, require_trainkit)


_ZIP_MAGIC = b'PK\x03\x04'
_PICKLE_PROTOCOL = 0x80


def _check_magic(path: str) -> None:
    """Refuse a file that is neither torch's zip format nor a legacy pickle before unpickling,
    so a text or HDF5 file is not reported as an unsafe pickle."""
    with open(path, 'rb') as f:
        head = f.read(4)
    if head.startswith(_ZIP_MAGIC) or head[:1] == bytes([_PICKLE_PROTOCOL]):
        return
    kind = 'an HDF5 file' if head == b'\x89HDF' else (
        'a text file' if all(32 <= b < 127 or b in (9, 10, 13) for b in head) else 'unknown data')
    raise CheckpointError(f'checkpoint {path!r} is not a PyTorch file (it starts like {kind}, '
                          f'not like a file written by torch.save); check the path given as '
                          f'ckpt_file or to --resume')


_UNSAFE_GLOBAL = re.compile(r'Unsupported global: GLOBAL ([\w.]+)')
_ANSI = re.compile(r'\x1b\[[0-9;]*m')


def _first_line(text: str) -> str:
    return _ANSI.sub('', text).strip().split('\n')[0]


def _unsafe_message(path: str, torch_message: str) -> str:
    """Why a file that needs arbitrary unpickling is refused, and what to do if it is trusted."""
    match = _UNSAFE_GLOBAL.search(torch_message)
    found = f'an object of type {match.group(1)}' if match else 'objects other than tensors'
    allow = (f'torch.serialization.add_safe_globals([{match.group(1)}])' if match else
             'torch.serialization.add_safe_globals([TheClass])')
    return (f'checkpoint {path!r} is refused: it holds {found}, and loading that would unpickle '
            f'arbitrary Python objects, which can run any code (trainkit loads checkpoints with '
            f'torch.load(weights_only=True); its own checkpoints hold only tensors and plain '
            f'values). Only if you trust the file: allow the class by calling {allow} in a '
            f'module listed in custom_imports (or --custom-imports), or convert the file once '
            f'to plain weights: torch.save(torch.load(path, weights_only=False)["model"], '
            f'"weights.pt") and give weights.pt as ckpt_file (weights only, no resume).')


def _check_format(path: str, state: Any, require_trainkit: bool) -> Dict:
    if isinstance(state, dict) and KEY_VERSION in state and KEY_MODEL in state:
        if state[KEY_VERSION] > CHECKPOINT_VERSION:
            raise CheckpointError(f'checkpoint {path!r} has format version {state[KEY_VERSION]}, '
                                  f'newer than this trainkit understands ({CHECKPOINT_VERSION}); '
                                  f'upgrade trainkit')
        return state
    if not require_trainkit and isinstance(state, dict):
        inner = state.get('state_dict', state.get('model', state))
        if isinstance(inner, dict) and inner and all(
                isinstance(v, torch.Tensor) for v in inner.values()):
            return {KEY_VERSION: 0, KEY_MODEL: inner, KEY_META: {}}
    what = type(state).__name__
    keys = sorted(state)[:8] if isinstance(state, dict) else []
    raise CheckpointError(f'{path!r} is not a trainkit checkpoint (a {what}'
                          f'{" with keys " + str(keys) if keys else ""}); expected the keys '
                          f'{KEY_VERSION!r} and {KEY_MODEL!r}' +
                          ('' if require_trainkit else ' or a plain {name: tensor} state dict'))


def ema_weights(state: Dict) -> Optional[Dict[str, torch.Tensor]]:
    """The EMA weights stored in a checkpoint, or None if it was trained without EMA."""
    for hook_state in (state.get(KEY_HOOKS) or {}).values():
        if isinstance(hook_state, dict) and hook_state.get(EMA_WEIGHTS_FIELD) is not None:
            return hook_state[EMA_WEIGHTS_FIELD]
    return None


def load_model_weights(model: torch.nn.Module, weights: Dict[str, torch.Tensor], source: str,
                       strict: bool = True) -> Dict[str, list]:
    """Copy ``weights`` into ``model``, naming every missing, unexpected or mis-shaped key.

    With ``strict=False`` the matching tensors are loaded and the rest reported back. Keys the
    model lists in its ``optional_state_keys`` (state added after older checkpoints were
    written) may be missing even when strict; they keep the model's values and are reported
    under ``'missing_optional'``.

    Raises:
        CheckpointError: (strict) any key is missing, unexpected or of another shape.
    """
    own = model.state_dict()
    weights = _strip_prefix(weights, own)
    optional = _optional_keys(model)
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    mismatched = sorted(f'{k}: checkpoint {tuple(weights[k].shape)} vs model {tuple(own[k].shape)}'
                        for k in set(own) & set(weights) if weights[k].shape != own[k].shape)
    report = {'missing': [k for k in missing if k not in optional], 'unexpected': unexpected,
              'mismatched': mismatched}
    if strict and any(report.values()):
        raise CheckpointError(_mismatch_message(source, report))
    loadable = {k: v for k, v in weights.items() if k in own and v.shape == own[k].shape}
    model.load_state_dict(loadable, strict=False)
    optional_missing = [k for k in missing if k in optional]
    if optional_missing:
        report['missing_optional'] = optional_missing
    return report


def _optional_keys(model: torch.nn.Module) -> set:
    """State-dict keys of ``optional_state_keys`` declared by ``model`` or its submodules."""
    keys = set()
    for prefix, module in model.named_modules():
        for key in getattr(module, 'optional_state_keys', ()):
            keys.add(f'{prefix}.{key}' if prefix else key)
    return keys


def _strip_prefix(weights: Dict, own: Dict) -> Dict:
    """Accept weights saved from a DDP-wrapped model (``module.`` prefix) and vice versa."""
    if weights and own and not set(weights) & set(own):
        stripped = {k[len('module.'):] if k.startswith('module.') else k: v
                    for k, v in weights.items()}
        if set(stripped) & set(own):
            return stripped
    return weights


def _mismatch_message(source: str, report: Dict[str, list]) -> str:
    lines = [f'the weights in {source} do not fit the model:']
    for kind, keys in report.items():
        if keys:
            shown = ', '.join(keys[:12]) + (f' … ({len(keys)} in all)' if len(keys) > 12 else '')
            lines.append(f'  {kind} ({len(keys)}): {shown}')
    lines.append('  Is it a checkpoint of another model or config? To load only what fits, set '
                 'load_strict=False.')
    return '\n'.join(lines)


def check_optimizer_fits(saved: Dict[str, Any], optimizer, saved_type: Optional[str],
                         path: str) -> None:
    """Refuse an optimizer state saved by another optimizer type (or other settings per
    group) before it is loaded: torch would load it and fail at the first step instead.

    Raises:
        CheckpointError: naming both optimizer types and the settings that differ.
    """
    own_type = type(optimizer).__name__
    groups = saved.get('param_groups') if isinstance(saved, dict) else None
    if groups is None:
        return
    theirs = set().union(*(g.keys() for g in groups)) - {'params'}
    ours = set().union(*(g.keys() for g in optimizer.param_groups)) - {'params'}
    if (saved_type is None or saved_type == own_type) and theirs == ours and \
            len(groups) == len(optimizer.param_groups):
        return
    if saved_type and saved_type != own_type:
        what = f'it was saved by {saved_type}, this config builds {own_type}'
    elif len(groups) != len(optimizer.param_groups):
        what = (f'it has {len(groups)} parameter group(s), this config builds '
                f'{len(optimizer.param_groups)} (were paramwise_cfg or finetune_modules changed?)')
    else:
        what = (f'its parameter groups have the settings {sorted(theirs - ours)}, which this '
                f'config\'s lack, and lack {sorted(ours - theirs)}')
    raise CheckpointError(f'{path}: the optimizer state does not fit this config: {what}. '
                          f'Resume with the config the run was started with, or start a new '
                          f'run from its weights (ckpt_file=..., resume=False).')
