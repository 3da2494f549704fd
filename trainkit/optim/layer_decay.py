"""Layer-wise learning-rate decay (BEiT/MAE style finetuning) as an optimizer-wrapper constructor.

The model's blocks are an indexed list (``model.blocks[i]``, attribute name configurable).
With ``L = len(blocks) + 1`` layers, a parameter of layer ``i`` gets ``lr · decay**(L − i)``:

* layer 0: parameters registered before the blocks (embeddings) → ``decay**L``;
* layer ``k + 1``: parameters of ``blocks[k]`` → ``decay**(L − k − 1)``;
* layer ``L``: parameters registered after the blocks (the head) → the full ``lr``.

1-D parameters (biases, norms) and names containing an entry of ``no_decay_names`` get no
weight decay. Frozen parameters are left out.

Config example::

    optim_wrapper = dict(
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
        constructor='LayerDecayOptimWrapperConstructor',
        paramwise_cfg=dict(layer_decay_rate=0.75, block_attr='blocks',
                           no_decay_names=['pos_embed']))
"""
from typing import Any, Dict, List, Optional

from torch import nn

from trainkit.errors import ConfigError
from trainkit.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS, lookup
from trainkit.utils.checks import expect_number
from trainkit.utils.suggest import did_you_mean


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor:
    """Build per-layer parameter groups with geometrically decaying learning rates.

    Args:
        optim_wrapper_cfg: the ``optim_wrapper`` dict (with ``optimizer``).
        paramwise_cfg: ``layer_decay_rate`` (default 0.75, in (0, 1]), ``block_attr``
            (dotted attribute path of the block list, default ``'blocks'``),
            ``no_decay_names`` (default ``[]``).

    Config example::

        optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
                             constructor='LayerDecayOptimWrapperConstructor',
                             paramwise_cfg=dict(layer_decay_rate=0.75, block_attr='interactions'))
    """

    paramwise_keys = ('layer_decay_rate', 'block_attr', 'no_decay_names')

    def __init__(self, optim_wrapper_cfg: Dict[str, Any],
                 paramwise_cfg: Optional[Dict[str, Any]] = None):
        self.wrapper_cfg = dict(optim_wrapper_cfg)
        self.optimizer_cfg = dict(self.wrapper_cfg.pop('optimizer'))
        paramwise_cfg = dict(paramwise_cfg or {})
        for key in paramwise_cfg:
            if key not in self.paramwise_keys:
                raise ConfigError(f'optim_wrapper.paramwise_cfg: {key!r} is not an option of '
                                  f'LayerDecayOptimWrapperConstructor'
                                  f'{did_you_mean(key, self.paramwise_keys)}; options: '
                                  f'{", ".join(self.paramwise_keys)}')
        self.decay = paramwise_cfg.get('layer_decay_rate', 0.75)
        expect_number(self.decay, 'optim_wrapper.paramwise_cfg.layer_decay_rate', above=0,
                      at_most=1)
        self.block_attr = paramwise_cfg.get('block_attr', 'blocks')
        self.no_decay_names = list(paramwise_cfg.get('no_decay_names', []))

    def _blocks(self, model: nn.Module) -> nn.Module:
        obj = model
        for part in self.block_attr.split('.'):
            if not hasattr(obj, part):
                children = [name for name, _ in obj.named_children()]
                raise ConfigError(
                    f'optim_wrapper.paramwise_cfg.block_attr: {type(obj).__name__} has no '
                    f'attribute {part!r}{did_you_mean(part, children)}; its submodules are '
                    f'{children}')
            obj = getattr(obj, part)
        if not isinstance(obj, (nn.ModuleList, nn.Sequential)):
            raise ConfigError(f'optim_wrapper.paramwise_cfg.block_attr: {self.block_attr!r} is a '
                              f'{type(obj).__name__}, expected an indexed nn.ModuleList or '
                              f'nn.Sequential of blocks')
        return obj

    def layer_groups(self, model: nn.Module) -> List[Dict[str, Any]]:
        """The parameter groups: one per (layer, decay / no decay)."""
        num_layers = len(self._blocks(model)) + 1
        prefix = self.block_attr + '.'
        base_lr = self.optimizer_cfg.get('lr')
        if base_lr is None:
            raise ConfigError('optim_wrapper.optimizer.lr: required by '
                              'LayerDecayOptimWrapperConstructor')
        groups: Dict[tuple, Dict[str, Any]] = {}
        after_blocks = False
        for name, param in model.named_parameters():
            if name.startswith(prefix):
                layer_id = int(name[len(prefix):].split('.')[0]) + 1
                after_blocks = True
            else:
                layer_id = num_layers if after_blocks else 0
            if not param.requires_grad:
                continue
            no_decay = param.ndim <= 1 or any(n in name for n in self.no_decay_names)
            scale = self.decay ** (num_layers - layer_id)
            group = groups.setdefault((layer_id, no_decay), {
                'params': [], 'lr': base_lr * scale, 'lr_scale': scale, 'layer_id': layer_id})
            if no_decay:
                # decayed groups keep the optimizer's weight_decay (configured or default)
                group['weight_decay'] = 0.0
            group['params'].append(param)
        return [groups[key] for key in sorted(groups)]

    def __call__(self, model: nn.Module):
        model = getattr(model, 'module', model)
        optimizer_cfg = dict(self.optimizer_cfg)
        optimizer_cls = lookup(OPTIMIZERS, optimizer_cfg.pop('type'), 'optim_wrapper.optimizer')
        optimizer = optimizer_cls(self.layer_groups(model), **optimizer_cfg)
        wrapper_cfg = dict(self.wrapper_cfg)
        wrapper_cls = lookup(OPTIM_WRAPPERS, wrapper_cfg.pop('type', 'OptimWrapper'),
                             'optim_wrapper.type')
        return wrapper_cls(optimizer=optimizer, **wrapper_cfg)
