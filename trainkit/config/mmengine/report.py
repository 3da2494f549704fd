"""What the MMEngine carry-over did: notices (keys accepted and ignored, one line each, saying
why) and problems (keys with no meaning, reported with the rest of validation)."""
from typing import List


class CarryOver:
    """Collects the notices and problems of one pass over a config.

    Example::

        report = CarryOver()
        report.notice('default_hooks.timer', 'IterTimerHook: ...')
        report.notices   # ['default_hooks.timer: IterTimerHook: ...']
    """

    def __init__(self):
        self.notices: List[str] = []
        self.problems: List[str] = []

    def notice(self, where: str, why: str) -> None:
        """``where`` was accepted and is not used, because ``why``."""
        self.notices.append(f'{where}: {why}')

    def problem(self, message: str) -> None:
        self.problems.append(message)
