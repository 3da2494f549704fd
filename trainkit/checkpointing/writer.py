"""Write serialized checkpoints on a background thread while training goes on.

The training thread serializes the state (a consistent snapshot, in memory) and hands the
bytes over; the thread writes them with
:func:`trainkit.checkpointing.format.atomic_write` (temp file, ``fsync``, rename, ``fsync`` of
the directory), which releases the GIL while the disk works.
Only one batch of writes is in flight: the next :meth:`BackgroundWriter.submit` and
:meth:`BackgroundWriter.wait` first wait for it and re-raise its error, so a failed write (a
full disk) stops the run at the next checkpoint or at the end, and the files on disk are
always those of a whole, earlier write.
"""
import os
import threading
from typing import List, Optional, Sequence, Tuple

from trainkit.checkpointing.format import atomic_write


class BackgroundWriter:
    """One writer thread per batch of ``(path, bytes)`` writes, done in order.

    Example::

        writer = BackgroundWriter()
        writer.submit([('work/run_0.pt', data), ('work/run_last.pt', data)])
        ...                      # train on
        writer.wait()            # the files are durable; a write error is raised here
    """

    def __init__(self):
        self._thread: Optional[threading.Thread] = None
        self._error: Optional[BaseException] = None

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def submit(self, writes: List[Tuple[str, bytes]], removals: Sequence[str] = ()) -> None:
        """Start writing ``writes`` after the previous batch (whose error is raised here);
        then delete the files ``removals`` (older checkpoints the new ones replace), only once
        every write of the batch is durable."""
        self.wait()
        # not a daemon: an interpreter that exits still finishes the file it is writing
        self._thread = threading.Thread(target=self._write, args=(writes, removals),
                                        name='trainkit-checkpoint-writer', daemon=False)
        self._thread.start()

    def _write(self, writes: List[Tuple[str, bytes]], removals: Sequence[str]) -> None:
        try:
            for path, data in writes:
                atomic_write(path, data)
            for path in removals:
                if os.path.exists(path):
                    os.remove(path)
        except BaseException as err:  # handed to the training thread by wait()
            self._error = err

    def wait(self) -> None:
        """Block until the writes in flight are on disk; raise the error of a failed one."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None
        if error is not None:
            raise error
