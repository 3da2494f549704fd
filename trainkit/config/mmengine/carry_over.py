"""One pass that turns an MMEngine-style config into trainkit's canonical keys.

Run by :func:`trainkit.config.validate.validate_config` before anything is checked; the
steps, in order (each a module of this package):

1. ``_delete_`` leftovers dropped (:mod:`.leftovers`);
2. runtime keys mapped: ``load_from``, ``randomness``, ``experiment_name``, ``launcher``,
   ``log_level``, ``log_processor`` (:mod:`.runtime`); ``env_cfg`` checked (:mod:`.env`);
   ``val_cfg``/``test_cfg`` checked (:mod:`.loops`); ``val_evaluator`` is ``metrics``
   (:mod:`.evaluators`);
3. MMEngine hooks mapped or dropped by name (:mod:`.hooks`);
4. components of OpenMMLab packages resolved through their registry scopes (:mod:`.scopes`),
   then every hook checked to be one trainkit can call;
5. helper variables told apart from misspelt keys (:mod:`.helpers`).

It returns the notices (one line per key accepted and not used) and the problems, which
validation reports together with its own.
"""
from typing import Any, Dict, Iterable

from trainkit.config.mmengine.env import check_env_cfg
from trainkit.config.mmengine.evaluators import map_evaluators
from trainkit.config.mmengine.helpers import drop_helper_variables
from trainkit.config.mmengine.hooks import check_hook_classes, map_hooks
from trainkit.config.mmengine.leftovers import drop_delete_leftovers
from trainkit.config.mmengine.loops import check_loops
from trainkit.config.mmengine.report import CarryOver
from trainkit.config.mmengine.runtime import map_runtime_keys
from trainkit.config.mmengine.scopes import resolve_scopes


def carry_over(cfg: Dict[str, Any], known_keys: Iterable[str]) -> CarryOver:
    """Map ``cfg`` (a plain dict) in place; ``known_keys`` are the top-level keys trainkit
    reads (to tell a helper variable from a misspelt key)."""
    report = CarryOver()
    drop_delete_leftovers(cfg)
    map_runtime_keys(cfg, report)
    check_env_cfg(cfg, report)
    check_loops(cfg, report)
    map_evaluators(cfg, report)
    map_hooks(cfg, report)
    resolve_scopes(cfg, report)
    check_hook_classes(cfg, report)
    drop_helper_variables(cfg, known_keys, report)
    return report
