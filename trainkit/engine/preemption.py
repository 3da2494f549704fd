"""Pre-emption: SIGTERM or SIGUSR1 end a run at the next optimizer step, with a checkpoint.

Schedulers end jobs with SIGTERM (SLURM, Kubernetes, most clouds) and SIGKILL after a grace
period; SLURM can be told to send SIGUSR1 earlier (``#SBATCH --signal=USR1@120``). While
``Runner.train()`` runs, either signal only sets a flag: the Runner finishes the optimizer step
in progress (or the validation and end of the epoch in progress), writes ``{run_name}_last.pt``
at that point, waits for it to be on disk, prints how to continue and leaves with
:class:`~trainkit.errors.Preempted` — ``tools/train.py`` then exits with
:data:`~trainkit.errors.EXIT_PREEMPTED` (75, ``EX_TEMPFAIL``: try again later). ``--resume``
continues exactly. A second signal while that checkpoint is written is noted and ignored (the
write is atomic either way); Ctrl-C (SIGINT) keeps its meaning.

::

    watch = PreemptionWatch()
    with watch:                 # handlers installed (main thread only), restored on exit
        ...
        if watch.signal_name:   # 'SIGTERM' once one arrived
            ...
"""
import signal
import threading
from typing import Dict, Optional

PREEMPT_SIGNALS = ('SIGTERM', 'SIGUSR1')


class PreemptionWatch:
    """Notes the first of :data:`PREEMPT_SIGNALS` that arrives while it is entered.

    Outside the main thread (where Python cannot install handlers) it watches nothing.
    """

    def __init__(self):
        self.signal_name: Optional[str] = None
        self.count = 0
        self._previous: Dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        # only flags: the training thread acts on them at the next optimizer step
        self.count += 1
        if self.signal_name is None:
            self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> 'PreemptionWatch':
        self.signal_name, self.count = None, 0
        if threading.current_thread() is threading.main_thread():
            for name in PREEMPT_SIGNALS:
                number = getattr(signal, name, None)
                if number is not None:
                    self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}
