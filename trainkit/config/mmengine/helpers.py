"""Top-level helper variables of OpenMMLab configs, told apart from misspelt keys.

OpenMMLab configs keep plain top-level variables that MMEngine's Runner never reads: values
shared between sections (``vis_backends``, ``optimizer``, ``train_pipeline``), numbers written
once (``lr``, ``max_epochs``), settings of tools other than training (``tta_model``,
``backend_args``). MMEngine ignores any top-level name it does not read; trainkit keeps
reporting a misspelt key, by this rule:

an unknown top-level name is a **helper variable** (accepted; one line lists them) when

1. its value is used by another key (the same dict or list appears inside it), e.g.
   ``optimizer = dict(type='SGD', lr=0.1)`` with ``optim_wrapper = dict(optimizer=optimizer)``;
2. or its name is not a misspelling of a key trainkit reads: no such key is within a few
   edits of it (one edit per four letters, at least one: ``tta_model``, ``backend_args``,
   ``lr`` and ``optimizer`` are not; ``optim_wraper`` and ``defualt_hooks`` are);

otherwise (``optim_wraper``, ``max_epoch``, ``defualt_hooks``) it is an error with
did-you-mean. Names starting with ``_`` stay the user's own and are never reported.
"""
from typing import Any, Dict, Iterable

from trainkit.config.mmengine.report import CarryOver
from trainkit.utils.suggest import edit_distance


def drop_helper_variables(cfg: Dict[str, Any], known: Iterable[str], report: CarryOver) -> None:
    """Remove helper variables from ``cfg`` (in place) with one notice naming them; misspelt
    keys stay for validation to report."""
    known = tuple(known)
    _drop_shared_vis_backends(cfg, report)
    helpers = [key for key in cfg if isinstance(key, str) and not key.startswith('_') and
               key not in known and is_helper_variable(cfg, key, known)]
    unused = [key for key in helpers if not _used(cfg, key)]
    for key in helpers:
        del cfg[key]
    if unused:  # a helper whose value is used elsewhere is in effect: nothing to say
        report.notice('helper variables', f'{", ".join(unused)}: not read by trainkit (nor by '
                                          f"MMEngine's Runner), accepted")


def is_helper_variable(cfg: Dict[str, Any], key: str, known: Iterable[str]) -> bool:
    """Rule 1 or rule 2 of the module docstring."""
    if _used(cfg, key):
        return True
    reach = max(1, len(key) // 4)
    return all(edit_distance(key.lower(), name.lower()) > reach for name in known)


def _used(cfg: Dict[str, Any], key: str) -> bool:
    """Rule 1: the value of ``key`` (a non-empty dict or list) appears inside another key."""
    value = cfg[key]
    return isinstance(value, (dict, list, tuple)) and bool(value) and any(
        _contains(other, value) for name, other in cfg.items() if name != key)


def _contains(haystack: Any, needle: Any) -> bool:
    """``needle`` (a dict or list) equals ``haystack`` or a value nested inside it."""
    if haystack is needle or (type(haystack) is type(needle) and haystack == needle):
        return True
    if isinstance(haystack, dict):
        return any(_contains(v, needle) for v in haystack.values())
    if isinstance(haystack, (list, tuple)):
        return any(_contains(v, needle) for v in haystack)
    return False


def _drop_shared_vis_backends(cfg: Dict[str, Any], report: CarryOver) -> None:
    """MMEngine reads ``visualizer.vis_backends``; a top-level ``vis_backends`` beside it is the
    helper variable it was written from (``visualizer = dict(..., vis_backends=vis_backends)``)."""
    visualizer = cfg.get('visualizer')
    if not isinstance(visualizer, dict) or visualizer.get('vis_backends') is None:
        return
    if 'vis_backends' not in cfg:
        return
    top = cfg.pop('vis_backends')
    if top is not None and top != visualizer['vis_backends']:
        report.notice('vis_backends', 'ignored: visualizer.vis_backends is given and is what '
                                      "MMEngine's Runner reads too")

