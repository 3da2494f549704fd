"""EmptyCacheHook: hand cached CUDA memory back to the driver at chosen points (MMEngine's)."""
from typing import Any, Dict

import torch

from trainkit.hooks.hook import Hook
from trainkit.registry import HOOKS
from trainkit.utils.checks import expect_bool


@HOOKS.register_module()
class EmptyCacheHook(Hook):
    """``torch.cuda.empty_cache()`` before/after epochs (training and validation) and after
    training steps, as MMEngine's hook of the same name. Nothing happens without CUDA.

    Args:
        before_epoch: at the start of each training and validation epoch. Defaults to False.
        after_epoch: at the end of each training and validation epoch. Defaults to True.
        after_iter: after every training step (slow: use it only against fragmentation).
            Defaults to False.

    Config example::

        custom_hooks = [dict(type='EmptyCacheHook', after_epoch=True)]
    """

    priority = 'NORMAL'
    POINTS = {'before_epoch': ('before_train_epoch', 'before_val_epoch'),
              'after_epoch': ('after_train_epoch', 'after_val_epoch'),
              'after_iter': ('after_train_iter',)}

    def __init__(self, before_epoch: bool = False, after_epoch: bool = True,
                 after_iter: bool = False):
        flags = dict(before_epoch=before_epoch, after_epoch=after_epoch, after_iter=after_iter)
        for key, value in flags.items():
            expect_bool(value, f'EmptyCacheHook.{key}')
        self._points = {point for key, points in self.POINTS.items() if flags[key]
                        for point in points}
        self.active = bool(self._points) and torch.cuda.is_available()

    def implements(self, point: str) -> bool:
        return point in self._points

    @staticmethod
    def _empty() -> None:
        torch.cuda.empty_cache()

    def before_train_epoch(self, runner) -> None:
        self._empty()

    def before_val_epoch(self, runner) -> None:
        self._empty()

    def after_train_epoch(self, runner) -> None:
        self._empty()

    def after_val_epoch(self, runner, metrics: Dict[str, float]) -> None:
        self._empty()

    def after_train_iter(self, runner, batch_idx: int, batch: Any, preds, losses) -> None:
        self._empty()
