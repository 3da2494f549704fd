"""MMEngine's ``val_evaluator`` / ``test_evaluator``: the metric types trainkit has map onto
``metrics``; any other is an error naming where it comes from.

::

    val_evaluator = dict(type='ErrorMetrics', per_atom=['energy'])   # = metrics=dict(...)
    val_evaluator = dict(type='Accuracy', topk=(1, 5))   # error: MMPretrain's metric

``test_evaluator`` is checked the same way and kept for ``tools/test.py``.
"""
from typing import Any, Dict, List, Optional

from trainkit.config.mmengine.packages import known_scope, pip_name
from trainkit.config.mmengine.report import CarryOver
from trainkit.errors import ConfigError
from trainkit.registry import METRICS, lookup

PROTOCOL = ('reset', 'update', 'compute')


def map_evaluators(cfg: Dict[str, Any], report: CarryOver) -> None:
    """``val_evaluator`` becomes ``metrics``; ``test_evaluator`` is checked and kept."""
    val = _one_metric(cfg.pop('val_evaluator', None), 'val_evaluator', report)
    if val is not None:
        if cfg.get('metrics') not in (None, val):
            report.problem(f"val_evaluator and metrics both say how to validate ({val!r} and "
                           f"{cfg['metrics']!r}); keep one")
        else:
            cfg['metrics'] = val
    _one_metric(cfg.get('test_evaluator'), 'test_evaluator', report)


def _metric_list(spec: Any) -> Optional[List[Any]]:
    if isinstance(spec, dict) and spec.get('type', 'Evaluator') == 'Evaluator' and \
            'metrics' in spec:
        spec = spec['metrics']
    if isinstance(spec, dict):
        return [spec] if spec else []
    if isinstance(spec, (list, tuple)):
        return list(spec)
    return None


def _one_metric(spec: Any, where: str, report: CarryOver) -> Optional[dict]:
    """The single trainkit metric config ``spec`` names (None when it names none)."""
    if spec is None:
        return None
    metrics = _metric_list(spec)
    if metrics is None:
        report.problem(f'{where}: expected dict(type=...) or a list of them, got {spec!r}')
        return None
    good = [m for i, m in enumerate(metrics)
            if _check_metric(m, f'{where}.{i}' if len(metrics) > 1 else where, report)]
    if len(good) != len(metrics):
        return None
    if len(metrics) > 1:
        report.problem(f'{where}: {len(metrics)} metrics given; trainkit validates with one '
                       f'metrics object (e.g. ErrorMetrics reports MAE and RMSE of every '
                       f'target): keep one')
        return None
    return dict(metrics[0]) if metrics else None


def _check_metric(metric: Any, where: str, report: CarryOver) -> bool:
    if not isinstance(metric, dict) or 'type' not in metric:
        report.problem(f'{where}: expected dict(type=...), got {metric!r}')
        return False
    type_name = metric['type']
    try:
        cls = lookup(METRICS, type_name, f'{where}.type')
    except ConfigError as err:
        short = type_name.rsplit('.', 1)[-1] if isinstance(type_name, str) else type_name
        scope = (type_name.rsplit('.', 1)[0] if isinstance(type_name, str) and '.' in type_name
                 else known_scope(short))
        if scope is None:
            report.problems.extend(err.problems)
        else:
            report.problem(f"{where}.type: {short!r} is a metric of {scope} "
                           f"(pip install {pip_name(scope)}), made for its models' outputs; "
                           f"trainkit validates with its own metrics (ErrorMetrics: MAE and "
                           f"RMSE of each target) or one you register in METRICS: remove "
                           f"{where} or give dict(type='ErrorMetrics')")
        return False
    missing = [name for name in PROTOCOL if not callable(getattr(cls, name, None))]
    if missing:
        report.problem(f'{where}.type: {getattr(cls, "__name__", cls)} is not a trainkit metric '
                       f'(it lacks {", ".join(missing)}; MMEngine metrics process data samples '
                       f"instead); use dict(type='ErrorMetrics') or register your own")
        return False
    return True
