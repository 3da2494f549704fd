"""The work directory: create it and check it is writable, keep an earlier run's files when a
new run starts there, save the resolved config.

A fresh run (not ``--resume``) whose work dir already holds ``{run_name}_last.pt`` would
overwrite that run's checkpoints at the end of its first epoch and append to its logs. Instead,
the earlier run's files are moved, untouched, into ``{work_dir}/previous/{time}/`` before the
new run writes anything::

    work_dirs/spice-demo/previous/20261125-093358/spice-demo_last.pt
    work_dirs/spice-demo/previous/20261125-093358/loss.log
    ...

What moves: ``{run_name}_last.pt``, the best-k files ``{run_name}_<k>.pt``, the config copy
``{run_name}_config.py``, the text and JSON-lines logs (``*.log``, ``*.jsonl``) at the top
of the work dir, and the tracking backends' folder ``vis_data/`` (so that TensorBoard shows
the new run's curves alone). Other files stay where they are. To continue the earlier run
instead, start with ``--resume``.

While a run trains, its work dir holds the lock file ``.trainkit.lock`` (JSON: the holder's
pid, host, start time and command), so a second run started there (``--resume`` or not) stops
with exit code 2 naming the holder instead of writing the same files. The lock is removed at
the end of the run and on any error; a lock left by a killed process on this host (its pid is
gone) is taken over with a notice. A lock from another host is never taken over: delete the
file by hand once that run is really gone::

    with WorkDirLock('work_dirs/spice-demo'):
        ...   # write into the work dir (Runner.train() does this itself)
"""
import getpass
import json
import os
import pwd
import socket
import stat
import sys
import time
from typing import Callable, Dict, List, Optional

from trainkit.checkpointing.names import TRACKING_DIR, config_file, last_file, run_file_pattern
from trainkit.errors import WorkDirError
from trainkit.utils.dist import broadcast_object

LOG_SUFFIXES = ('.log', '.jsonl')

ARCHIVE_DIR = 'previous'


def previous_run_files(work_dir: str, run_name: str) -> List[str]:
    """The names of an earlier run's files in ``work_dir`` ([] if it holds no such run)."""
    if not os.path.isfile(os.path.join(work_dir, last_file(run_name))):
        return []
    own = run_file_pattern(run_name)
    names = [name for name in os.listdir(work_dir)
             if (own.match(name) or name.endswith(LOG_SUFFIXES)) and
             os.path.isfile(os.path.join(work_dir, name))]
    if os.path.isdir(os.path.join(work_dir, TRACKING_DIR)):  # its curves belong to that run
        names.append(TRACKING_DIR)
    return sorted(names)


def archive_previous_run(work_dir: str, run_name: str) -> Optional[str]:
    """Move an earlier run's files into ``previous/<time>/``; return that folder (or None)."""
    names = previous_run_files(work_dir, run_name)
    if not names:
        return None
    target = os.path.join(work_dir, ARCHIVE_DIR, time.strftime('%Y%m%d-%H%M%S'))
    suffix = 1
    while os.path.exists(target):
        suffix += 1
        target = f'{target.rsplit("~", 1)[0]}~{suffix}'
    os.makedirs(target)
    for name in names:  # a rename within one file system: nothing is copied or rewritten
        os.replace(os.path.join(work_dir, name), os.path.join(target, name))
    return target


def prepare_work_dir(work_dir: str) -> None:
    """Create the work dir and check it can be written."""
    try:
        os.makedirs(work_dir, exist_ok=True)
        probe = os.path.join(work_dir, f'.write-test-{os.getpid()}')
        with open(probe, 'w') as f:
            f.write('ok')
        os.remove(probe)
    except OSError as err:
        raise WorkDirError(f'work_dir {work_dir!r} is not writable: {err.strerror}; '
                           f'choose another with --work-dir') from None


def keep_previous_run(work_dir: str, run_name: str, report: Callable[[str], None]) -> None:
    """A fresh run in the work dir of an earlier one moves that run's files aside first."""
    moved_to = archive_previous_run(work_dir, run_name)
    if moved_to:
        report(f'{work_dir} held an earlier run of {run_name}: its checkpoints, logs and '
               f'tracking events were moved to {moved_to} (use --resume to continue a run '
               f'instead of starting over)')


def save_config(work_dir: str, run_name: str, cfg_text: str) -> None:
    """Write the resolved config as ``{run_name}_config.py``."""
    with open(os.path.join(work_dir, config_file(run_name)), 'w', encoding='utf-8') as f:
        f.write(cfg_text)


# ---------------------------------------------------------------------------- the lock
LOCK_FILE = '.trainkit.lock'


def _holder_text(holder: Dict) -> str:
    return (f'pid {holder.get("pid", "?")} on host {holder.get("host", "?")}'
            f'{", user " + holder["user"] if holder.get("user") else ""}'
            f'{", since " + holder["started"] if holder.get("started") else ""}'
            f'{" (" + holder["command"] + ")" if holder.get("command") else ""}')


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host is running (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError):
        return True


def _read_lock(path: str) -> Optional[Dict]:
    try:
        with open(path, encoding='utf-8') as f:
            holder = json.load(f)
        return holder if isinstance(holder, dict) else None
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return None


class WorkDirLock:
    """Hold ``{work_dir}/.trainkit.lock`` while a run writes there (a context manager).

    Args:
        work_dir: the run's work dir (created and checked writable on entry).
        report: where the notice about a taken-over stale lock goes (default: stderr; not
            the run's log, which a resumed run keeps identical to an uninterrupted one).
        active: False on the ranks that write no files (nothing is done).

    Raises:
        WorkDirError: on entry, if another live run holds the lock (its pid, host, user,
            start time and command are named), or the lock file cannot be read.

    ``Runner.train()`` holds it; hold it yourself only around other writes into a work dir
    (a second WorkDirLock on the same dir, even in this process, is refused).

    Example::

        with WorkDirLock('work_dirs/my-analysis'):
            write_report('work_dirs/my-analysis/report.txt')
    """

    def __init__(self, work_dir: str, report: Optional[Callable[[str], None]] = None,
                 active: bool = True):
        self.report = report or (lambda text: print(f'notice: {text}', file=sys.stderr,
                                                     flush=True))
        self.work_dir, self.active = work_dir, active
        self.path = os.path.join(work_dir, LOCK_FILE)
        self.held = False

    def __enter__(self) -> 'WorkDirLock':
        problem = None
        if self.active:
            try:
                prepare_work_dir(self.work_dir)
                self.acquire()
            except WorkDirError as err:
                problem = err
        # every rank calls this: the others stop with the main process instead of waiting
        # for it in their first collective
        message = broadcast_object(None if problem is None else str(problem))
        if problem is not None:
            raise problem
        if message is not None:
            raise WorkDirError(message)
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        me = dict(pid=os.getpid(), host=socket.gethostname(), user=_user(),
                  started=time.strftime('%Y-%m-%d %H:%M:%S'), command=' '.join(sys.argv))
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._check_holder(me)
                continue
            with os.fdopen(fd, 'w', encoding='utf-8') as f:
                json.dump(me, f)
            self.held = True
            return
        raise WorkDirError(f'work_dir {self.work_dir!r}: could not take the lock {self.path} '
                           f'(other runs keep starting there); use another --work-dir')

    def _check_holder(self, me: Dict) -> None:
        """Return if the lock is stale and was removed; raise if another run holds it."""
        holder = _read_lock(self.path)
        for _ in range(10):  # a run that has just created the file may not have written it yet
            if holder is not None:
                break
            time.sleep(0.1)
            holder = _read_lock(self.path)
        if holder == {}:  # removed meanwhile
            return
        if holder is None:
            raise WorkDirError(
                f'work_dir {self.work_dir!r} holds a lock file {self.path} that cannot be read '
                f'as a trainkit lock; if no other run uses this work dir, delete that file and '
                f'start again')
        pid = holder.get('pid')
        same_host = holder.get('host') == me['host']
        if same_host and isinstance(pid, int) and pid != me['pid'] and not _pid_alive(pid):
            os.remove(self.path)
            self.report(f'{self.path}: a stale lock of {_holder_text(holder)} was taken over '
                        f'(that process no longer runs; it may have been killed)')
            return
        where = ('this host' if same_host else f'host {holder.get("host")!r}; this is '
                 f'{me["host"]!r}, so whether it still runs cannot be checked from here')
        raise WorkDirError(
            f'work_dir {self.work_dir!r} is in use by another run: {_holder_text(holder)} '
            f'(lock file {self.path}, process on {where}). Two runs in one work dir would '
            f'write the same checkpoints and logs. Wait for that run to finish, or start this '
            f'one with another --work-dir; if that run is gone, delete the lock file')

    def release(self) -> None:
        if self.held:
            self.held = False
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


# -------------------------------------------------------------- files a resume writes into
def _owner(st: os.stat_result) -> str:
    try:
        return pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        return f'uid {st.st_uid}'


def check_resume_files(work_dir: str, run_name: str) -> None:
    """Before a resume touches anything: every file of the run it will append to, rewrite or
    replace (checkpoints, best-k files, config copy, logs) must be writable by this user and
    not marked read-only (no write permission bit: kept read-only on purpose)."""
    if not os.path.isdir(work_dir):
        return
    own = run_file_pattern(run_name)
    names = sorted(n for n in os.listdir(work_dir)
                   if (own.match(n) or n.endswith(LOG_SUFFIXES)) and
                   os.path.isfile(os.path.join(work_dir, n)))
    bad = []
    for name in names:
        path = os.path.join(work_dir, name)
        st = os.stat(path)
        if os.access(path, os.W_OK) and st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            continue
        foreign = st.st_uid != os.geteuid()
        bad.append(f'{name} (mode {stat.filemode(st.st_mode)}, owner {_owner(st)}'
                   f'{", not you" if foreign else ""})')
    if bad:
        raise WorkDirError(
            f'resume: {len(bad)} file(s) of run {run_name!r} in {work_dir} that the resumed run '
            f'would write are read-only or not yours: {", ".join(bad)}. Nothing was touched. '
            f'Make them writable (chmod u+w, or chown to you), or resume into another work dir: '
            f'--work-dir NEW --resume {os.path.join(work_dir, last_file(run_name))}')
