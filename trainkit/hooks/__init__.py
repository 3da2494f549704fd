"""Hooks: small classes called at fixed points of the training loop (see :mod:`.hook`).

=================  ===========================================  =============
hook               what it does                                 priority
=================  ===========================================  =============
NanGuardHook       stop / skip on a non-finite loss             HIGHEST
EMAHook            EMA of the weights; validate with it         HIGH
EarlyStoppingHook  reference multi-criteria early stopping      NORMAL
LoggerHook         loss.log table, JSON lines, progress bar     BELOW_NORMAL
CheckpointHook     ``_last.pt`` and best-k checkpoints          LOW
TrackingHook       log rows to TensorBoard / W&B / MLflow       NORMAL
EmptyCacheHook     torch.cuda.empty_cache() (MMEngine's)        NORMAL
SyncBuffersHook    average buffers over processes (MMEngine's)  NORMAL
=================  ===========================================  =============
"""
from trainkit.hooks.checkpoint import CheckpointHook
from trainkit.hooks.early_stopping import EarlyStoppingHook
from trainkit.hooks.ema import EMAHook
from trainkit.hooks.empty_cache import EmptyCacheHook
from trainkit.hooks.hook import HOOK_POINTS, PRIORITIES, Hook, priority_value
from trainkit.hooks.logger import LoggerHook
from trainkit.hooks.nan_guard import NanGuardHook
from trainkit.hooks.sync_buffers import SyncBuffersHook
from trainkit.hooks.tracking import TrackingHook

__all__ = ['Hook', 'HOOK_POINTS', 'PRIORITIES', 'priority_value', 'CheckpointHook',
           'EarlyStoppingHook', 'EMAHook', 'EmptyCacheHook', 'LoggerHook', 'NanGuardHook',
           'SyncBuffersHook', 'TrackingHook']
