"""Drop what MMEngine's config merge leaves behind and MMEngine's Runner never reads.

A ``_delete_=True`` in a section whose base has no such section stays in the merged dict
(MMEngine's ``Config`` only consumes it when it replaces something); MMEngine's Runner ignores
it, so trainkit drops it before validation, e.g.::

    auto_scale_lr = dict(_delete_=True, base_batch_size=256)   # base has no auto_scale_lr
"""
from typing import Any

DELETE_MARK = '_delete_'


def drop_delete_leftovers(cfg: Any) -> Any:
    """Remove every ``_delete_`` key left in nested dicts and lists of ``cfg``, in place."""
    if isinstance(cfg, dict):
        cfg.pop(DELETE_MARK, None)
        for value in cfg.values():
            drop_delete_leftovers(value)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            drop_delete_leftovers(value)
    return cfg
