"""Where a run's messages go: the console and, once attached, the text log and JSON lines.

The Runner owns one :class:`RunLog` (``runner.log``); hooks write through it. Text written
before the files are attached is kept and flushed into them on attach. The byte offsets of
both files are part of the checkpoint: a resumed run cuts the files back to those offsets, so
rows written after the checkpoint by the interrupted run are not duplicated.
"""
import json
import os
from typing import Any, Callable, Dict, List, Optional


class RunLog:
    """Console plus optional text/JSON-lines files, with resumable offsets.

    Args:
        is_main: only the main process prints and writes files.
        console: function used for console lines (replaced by the progress bar's writer while
            a bar is shown). Defaults to ``print`` with flush.
    """

    def __init__(self, is_main: bool = True, console: Optional[Callable[[str], None]] = None):
        self.is_main = is_main
        self.console = console or (lambda line: print(line, flush=True))
        self._text = None
        self._json = None
        self._pending: List[str] = []
        self._restore: Optional[Dict[str, int]] = None
        self.text_path: Optional[str] = None
        self.json_path: Optional[str] = None
        self.sinks: List[Callable[[Dict[str, Any]], None]] = []

    def add_sink(self, sink: Callable[[Dict[str, Any]], None]) -> None:
        """Also hand every JSON record to ``sink`` (e.g. a tracking backend; main process only)."""
        self.sinks.append(sink)

    # -- writing ---------------------------------------------------------------------------
    def info(self, message: str, console: bool = True) -> None:
        """A free-form line (prefixed like the reference's ``' --- '`` lines)."""
        self.text(f' --- {message}', console=console)

    def text(self, line: str, console: bool = True) -> None:
        if not self.is_main:
            return
        if console:
            self.console(line)
        if self._text is None:
            self._pending.append(line)
        else:
            self._text.write((line + '\n').encode('utf-8'))
            self._text.flush()

    def record(self, record: Dict[str, Any]) -> None:
        """One JSON line (dropped if no JSON file is attached), also given to the sinks."""
        if not self.is_main:
            return
        for sink in self.sinks:
            sink(record)
        if self._json is not None:
            self._json.write((json.dumps(record, default=_plain) + '\n').encode('utf-8'))
            self._json.flush()

    # -- files -----------------------------------------------------------------------------
    def attach(self, text_path: str, json_path: Optional[str] = None) -> None:
        """Open the files for appending (cut back to the resumed offsets first)."""
        if not self.is_main:
            return
        self.text_path, self.json_path = text_path, json_path
        restore = self._restore or {}
        self._text = _open_at(text_path, restore.get('text_bytes'))
        if json_path:
            self._json = _open_at(json_path, restore.get('json_bytes'))
        pending, self._pending = self._pending, []
        for line in pending:
            self.text(line, console=False)

    def close(self) -> None:
        for handle in (self._text, self._json):
            if handle is not None:
                handle.close()
        self._text = self._json = None

    def state_dict(self) -> Dict[str, int]:
        state = {}
        if self._text is not None:
            state['text_bytes'] = self._text.tell()
        if self._json is not None:
            state['json_bytes'] = self._json.tell()
        return state

    def load_state_dict(self, state: Dict[str, int]) -> None:
        """Remember offsets; files attached later are cut back to them."""
        self._restore = dict(state or {})


def _open_at(path: str, offset: Optional[int]):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if offset is not None and os.path.exists(path) and os.path.getsize(path) > offset:
        os.truncate(path, offset)
    return open(path, 'ab')


def _plain(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
