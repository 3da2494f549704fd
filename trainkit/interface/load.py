"""Load a trained model from a checkpoint alone, ready for inference.

::

    model = load_model('work_dirs/spice-demo/spice-demo_last.pt')   # EMA weights, eval mode
    model = load_model(ckpt, ema=False, device='cuda', dtype=torch.float64)

The model is built from the config stored in the checkpoint (every trainkit checkpoint holds
the resolved config) unless ``model`` gives it (a config dict or a built module). What the
training data did to the energies (per-element reference energies, units) is part of the
model's weights (:class:`~trainkit.models.potential.NeuralPotential` keeps it in buffers); a
checkpoint written before that existed loads with a warning saying what it lacks.
"""
import ast
import warnings
from typing import Any, Dict, Optional, Union

import torch
from mmengine import Config
from torch import nn

from trainkit.checkpointing import format as fmt
from trainkit.config.load import import_custom_modules
from trainkit.errors import CheckpointError
from trainkit.registry import MODELS, build

DTYPES = {'float32': torch.float32, 'float64': torch.float64}


def load_model(checkpoint: str, ema: bool = True, device: Optional[str] = None,
               dtype: Union[None, str, torch.dtype] = None,
               model: Union[None, dict, nn.Module] = None) -> nn.Module:
    """The model of ``checkpoint`` in eval mode, its parameters frozen.

    Args:
        checkpoint: a trainkit checkpoint (``{run_name}_last.pt`` or a best-k file).
        ema: load the EMA weights when the checkpoint has them (else the raw weights).
        device: ``'cpu'``, ``'cuda'``, ...; None: CUDA when available.
        dtype: ``'float32'``/``'float64'`` (or a torch dtype) for the weights; None keeps
            them as trained. The stored reference energies stay float64.
        model: the model's config dict or a built module; None: the ``model`` section of the
            config stored in the checkpoint.

    The returned module has ``checkpoint_info``: ``{'path', 'weights': 'EMA'|'raw', 'epoch',
    'has_data_info'}``.

    Raises:
        CheckpointError: unreadable file, no config to build the model from, weights that
            do not fit.
    """
    state = fmt.load_checkpoint(checkpoint)
    if not isinstance(model, nn.Module):
        model = _build(model if model is not None else _model_cfg(state, checkpoint))
    ema_state = fmt.ema_weights(state) if ema else None
    weights = ema_state if ema_state is not None else state[fmt.KEY_MODEL]
    report = fmt.load_model_weights(model, weights, checkpoint, strict=True)
    lacking = report.get('missing_optional', [])
    if lacking:
        warnings.warn(f'{checkpoint} was written before trainkit kept {lacking} with the '
                      f'weights: the model predicts energies without the per-element reference '
                      f'energies the training data subtracted (and assumes eV and Å). Train '
                      f'again, or set them with model.adopt_data_info(dataset.data_info()) '
                      f'from the training dataset', stacklevel=2)
    device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    model = model.to(device=device, dtype=_dtype(dtype)).eval()
    for name in getattr(model, 'optional_state_keys', ()):
        buffer = getattr(model, name, None)   # kept in float64 whatever the weights' dtype
        if torch.is_tensor(buffer) and buffer.is_floating_point():
            setattr(model, name, buffer.to(torch.float64))
    model.requires_grad_(False)
    model.checkpoint_info = {'path': str(checkpoint),
                             'weights': 'EMA' if ema_state is not None else 'raw',
                             'epoch': state.get(fmt.KEY_META, {}).get('epoch'),
                             'has_data_info': not lacking}
    return model


def _dtype(dtype) -> Optional[torch.dtype]:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise CheckpointError(f'dtype={dtype!r} is not supported; give one of {list(DTYPES)}')
    return DTYPES[dtype]


def _model_cfg(state: Dict[str, Any], path: str) -> dict:
    """The ``model`` section of the config stored in a checkpoint (custom imports done)."""
    text = state.get(fmt.KEY_CONFIG)
    if not text:
        raise CheckpointError(f'{path} holds no config (the Runner was built without one), so '
                              f'the model cannot be rebuilt from it alone; pass the model: '
                              f'load_model({path!r}, model=dict(type=..., ...)) or a module')
    try:
        cfg = ast.literal_eval(text) if text.lstrip().startswith('{') else \
            Config.fromstring(text, '.py').to_dict()
    except Exception as err:  # noqa: BLE001 - any failure means the stored text is unusable
        raise CheckpointError(f'{path}: the config stored in the checkpoint cannot be read '
                              f'({type(err).__name__}: {err}); pass the model config as '
                              f'model=dict(...)') from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get('model'), dict):
        raise CheckpointError(f'{path}: the stored config has no model section; pass '
                              f'model=dict(type=..., ...)')
    import_custom_modules(cfg)
    return cfg['model']


def _build(cfg: dict) -> nn.Module:
    """Build the model without touching the global random state (its initial weights are
    overwritten anyway)."""
    with torch.random.fork_rng(devices=[]):
        return build(MODELS, cfg, 'model')
