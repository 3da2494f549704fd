"""Hooks: small classes called at fixed points of the training loop (see :mod:`.hook`).

=================  ===========================================  =============
hook               what it does                                 priority
=================  ===========================================  =============
NanGuardHook       stop / skip on a non-finite loss             HIGHEST
EMAHook            EMA of the weights; validate with it         HIGH
EarlyStoppingHook  reference multi-criteria early stopping      NORMAL
LoggerHook         loss.log table, JSON lines, progress bar     BELOW_NORMAL
CheckpointHook     ``_last.pt`` and best-k checkpoints          LOW
=================  ===========================================  =============
"""
from .checkpoint import CheckpointHook
from .early_stopping import EarlyStoppingHook
from .ema import EMAHook
from .hook import HOOK_POINTS, PRIORITIES, Hook, priority_value
from .logger import LoggerHook
from .nan_guard import NanGuardHook

__all__ = ['Hook', 'HOOK_POINTS', 'PRIORITIES', 'priority_value', 'CheckpointHook',
           'EarlyStoppingHook', 'EMAHook', 'LoggerHook', 'NanGuardHook']
