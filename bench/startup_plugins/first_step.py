"""Record the moment of the first optimizer step of a process (``time.monotonic()``, which on
Linux is the system-wide CLOCK_MONOTONIC, so the parent can subtract its launch time)."""
import os
import time

_done = False


def record_first_step() -> None:
    global _done
    if _done:
        return
    stamp = time.monotonic()
    _done = True
    path = os.environ.get('BENCH_FIRST_STEP_FILE')
    if path:
        with open(path, 'w') as f:
            f.write(repr(stamp))
