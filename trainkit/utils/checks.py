"""Small checks of user-given values, each raising a ConfigError that names the place, what was
given and what was expected. Every range or choice check in trainkit goes through these::

    expect_int(best_k, 'CheckpointHook.best_k', at_least=1, allow_none=True)
    expect_number(threshold, 'EarlyStoppingHook...threshold', at_least=0)
    expect_number(decay, 'EMAHook.ema_decay', at_least=0, below=1)
    expect_choice(rule, ('less', 'greater'), 'CheckpointHook.rule')
    expect_bool(async_write, 'CheckpointHook.async_write')

``bool`` is never taken for a number (``True`` is an int in Python, not a count).
"""
from typing import Any, Optional, Sequence

from trainkit.errors import ConfigError
from trainkit.utils.suggest import did_you_mean


def _range_text(at_least, above, below, at_most) -> str:
    if at_least is not None and below is not None and above is None and at_most is None:
        return f'in [{at_least}, {below})'
    parts = [f'>= {at_least}' if at_least is not None else '',
             f'> {above}' if above is not None else '',
             f'< {below}' if below is not None else '',
             f'<= {at_most}' if at_most is not None else '']
    return ' and '.join(p for p in parts if p)


def _check_number(value: Any, where: str, kinds, noun: str, at_least, above, below, at_most,
                  allow_none: bool, hint: str) -> None:
    if value is None and allow_none:
        return
    ok = not isinstance(value, bool) and isinstance(value, kinds)
    if ok:
        ok = ((at_least is None or value >= at_least) and (above is None or value > above) and
              (below is None or value < below) and (at_most is None or value <= at_most))
    if not ok:
        bounds = _range_text(at_least, above, below, at_most)
        expected = f'{noun}{" " + bounds if bounds else ""}' + (' or None' if allow_none else '')
        shown = (f'{value!r} ({type(value).__name__})' if isinstance(value, (str, bool))
                 else repr(value))
        raise ConfigError(f'{where}: expected {expected}, got {shown}'
                          f'{"; " + hint if hint else ""}')


def is_int(value: Any) -> bool:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """An int or float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def expect_int(value: Any, where: str, at_least: Optional[int] = None, *,
               at_most: Optional[int] = None, allow_none: bool = False, hint: str = '') -> None:
    """``value`` is an int (not a bool) in the range; ``hint`` says what to do otherwise."""
    _check_number(value, where, int, 'an int', at_least, None, None, at_most, allow_none, hint)


def expect_number(value: Any, where: str, at_least=None, *, above=None, below=None,
                  at_most=None, allow_none: bool = False, hint: str = '') -> None:
    """``value`` is an int or float (not a bool) in the range."""
    _check_number(value, where, (int, float), 'a number', at_least, above, below, at_most,
                  allow_none, hint)


def expect_choice(value: Any, choices: Sequence, where: str, hint: str = '') -> None:
    """``value`` is one of ``choices`` (compared as given: no case folding)."""
    if value not in choices:
        near = did_you_mean(value, [str(c) for c in choices]) if isinstance(value, str) else ''
        names = list(map(repr, choices))
        expected = (' or '.join(names) if len(names) <= 2 else
                    f'one of {", ".join(names)}')
        raise ConfigError(f'{where}: expected {expected}{" (" + hint + ")" if hint else ""}, '
                          f'got {value!r}{near}')


def expect_bool(value: Any, where: str) -> None:
    """``value`` is True or False (not 1, 'yes' or 'true')."""
    if not isinstance(value, bool):
        raise ConfigError(f'{where}: expected True or False, got {value!r} '
                          f'({type(value).__name__})')


def expect_metric(name: str, available, where: str) -> None:
    """``name`` is among the validation metrics ``available`` (None: not known yet, no check).
    Every hook or scheduler that monitors a metric checks it with this in ``before_run``."""
    if available is not None and name not in available:
        raise ConfigError(f'{where}: {name!r} is not a validation metric'
                          f'{did_you_mean(name, list(available))}; the metrics are '
                          f'{sorted(available)}')
