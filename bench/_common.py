"""Shared helpers of the benchmarks: machine and version info, timing statistics, tables.

Every bench is run as ``python bench/<name>.py`` from the repository root; importing this
module puts the repository root on ``sys.path`` so a source checkout works without installing.
"""
import gc
import os
import platform
import statistics
import sys
import time
from importlib import metadata
from typing import Callable, Dict, Iterable, List, Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def version_of(dist: str) -> Optional[str]:
    """The installed version of a distribution, without importing it."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def trainkit_version() -> str:
    import trainkit  # cheap: the package is lazy
    return trainkit.__version__


def load_average() -> str:
    try:
        return ' / '.join(f'{x:.2f}' for x in os.getloadavg())
    except OSError:
        return 'n/a'


def environment_lines(settings: Dict[str, object], extra_versions: Sequence[str] = ()) -> str:
    """The header every bench prints: machine, versions, settings (markdown bullets)."""
    versions = {'python': platform.python_version(), 'torch': version_of('torch'),
                'trainkit': trainkit_version(), 'mmengine': version_of('mmengine')}
    for dist in extra_versions:
        versions[dist] = version_of(dist) or 'not installed'
    lines = [
        f'- machine: {cpu_model()}, {usable_cores()} cores usable ({os.cpu_count()} online), '
        f'{platform.system()} {platform.release()}',
        '- versions: ' + ', '.join(f'{k} {v}' for k, v in versions.items()),
        f'- load average at start (1/5/15 min): {load_average()}',
        '- settings: ' + ', '.join(f'{k}={v}' for k, v in settings.items()),
    ]
    return '\n'.join(lines)


def best_median(values: Iterable[float]):
    values = list(values)
    return min(values), statistics.median(values)


def timed(fn: Callable[[], object]) -> float:
    """Seconds ``fn()`` takes (after a gc.collect(), gc left on as in real runs)."""
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleave(variants: Dict[str, Callable[[], object]], repeats: int,
               on_rep: Optional[Callable[[int], None]] = None) -> Dict[str, List[float]]:
    """Run every variant once per repetition, rotating the order each repetition, so slow
    phases of a noisy machine hit all variants alike. Returns seconds per variant."""
    names = list(variants)
    times: Dict[str, List[float]] = {name: [] for name in names}
    for rep in range(repeats):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(timed(variants[name]))
        if on_rep is not None:
            on_rep(rep)
    return times


def table(header: Sequence[str], rows: Sequence[Sequence[object]],
          align: Optional[str] = None) -> str:
    """A markdown table; ``align`` is a string of 'l'/'r' per column (default: l then r)."""
    align = align or 'l' + 'r' * (len(header) - 1)
    marks = [':---' if a == 'l' else '---:' for a in align]
    out = ['| ' + ' | '.join(str(h) for h in header) + ' |', '|' + '|'.join(marks) + '|']
    out += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return '\n'.join(out)


def fmt_s(seconds: float) -> str:
    return f'{seconds:.3f}'


def fmt_ms(seconds: float) -> str:
    return f'{seconds * 1e3:.1f}'


def fmt_us(seconds: float) -> str:
    return f'{seconds * 1e6:.1f}'
