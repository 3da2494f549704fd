"""The run's progress: where training stands, as one object the Runner owns.

Hooks read it through the Runner (``runner.epoch``, ``runner.step``, ...), which exposes these
fields read-only; only the Runner's loop and a resume change them. The checkpoint stores it
with :meth:`Progress.state_dict` (in the file's ``meta`` section, where earlier trainkit
versions kept the same counters under the same names)::

    progress = Progress(data_seed=0)
    progress.epoch, progress.step           # 0-based epoch being trained, optimizer steps done
    progress.state_dict()                   # {'epoch': 0, 'step': 0, 'iter': 0, ...}

A checkpoint written inside an epoch (``CheckpointHook(interval_steps=N)``, pre-emption)
records ``epoch_iter``, the batches of that epoch already done; a resume starts the same epoch
there (``resume_iter``) instead of at its first batch.
"""
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional


@dataclass
class Progress:
    """Counters of a run.

    Attributes:
        epoch: the 0-based epoch being trained (after the loop: the number of epochs done).
        start_epoch: the epoch this process started at (> 0 after a resume).
        step: optimizer steps done in the whole run.
        iter: batches done in the whole run (``step * accumulative_counts`` or fewer).
        inner_iter: the index of the current batch within the epoch.
        data_seed: the seed of the shuffle order (``seed`` or a drawn one, kept across resumes).
        stop_reason: why the run stops early (early stopping, plateau, NaN), or None.
        resumed_from: the checkpoint this process resumed from, or None.
        epoch_done: True between the end of an epoch's batches and the epoch counter moving on
            (the end-of-epoch hooks and the checkpoint then see a finished epoch).
        epoch_iter: batches of the current epoch done (0 at its start).
        resume_iter: the batches of the first epoch this process trains that an earlier
            process already did (a resume from a mid-epoch checkpoint); they are skipped.
    """

    epoch: int = 0
    start_epoch: int = 0
    step: int = 0
    iter: int = 0
    inner_iter: int = 0
    data_seed: int = 0
    stop_reason: Optional[str] = None
    resumed_from: Optional[str] = None
    epoch_done: bool = False
    epoch_iter: int = 0
    resume_iter: int = 0

    # what a checkpoint keeps; start_epoch, inner_iter, resume_iter and resumed_from belong
    # to one process
    SAVED = ('step', 'iter', 'data_seed', 'stop_reason')

    @property
    def epochs_done(self) -> int:
        return self.epoch + 1 if self.epoch_done else self.epoch

    def state_dict(self) -> Dict[str, Any]:
        """The counters to continue from: ``epoch`` is the number of finished epochs and
        ``epoch_iter`` the batches done of the next one (0 at an epoch's end)."""
        state = {k: v for k, v in asdict(self).items() if k in self.SAVED}
        state['epoch'] = self.epochs_done
        state['epoch_iter'] = 0 if self.epoch_done else self.epoch_iter
        return state

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Continue where the checkpoint was written; counters absent from ``state`` keep their
        value (a file without ``epoch_iter`` was written at an epoch's end)."""
        self.epoch = self.start_epoch = int(state['epoch'])
        self.epoch_done = False
        self.resume_iter = self.epoch_iter = int(state.get('epoch_iter', 0))
        self.step, self.iter = int(state['step']), int(state['iter'])
        self.data_seed = int(state.get('data_seed', self.data_seed))
        self.stop_reason = state.get('stop_reason')
