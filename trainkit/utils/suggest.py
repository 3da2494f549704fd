"""'Did you mean ...?' suggestions for misspelt names.

Candidates are ranked by the case-insensitive edit distance (insertions, deletions,
substitutions and swaps of neighbours each cost 1).  Among equally distant names, a name of
the same length (a mistyped key) comes before a longer one (a missed key), which comes before
a shorter one (an extra key).  When nothing is within reach of a few edits, difflib's looser
similarity is used instead.
"""
import difflib
from typing import Iterable, List


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance between ``a`` and ``b``."""
    rows = [list(range(len(b) + 1))]
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def close_matches(name: str, choices: Iterable[str], n: int = 2) -> List[str]:
    """Return up to ``n`` names from ``choices`` that ``name`` was probably meant to be."""
    name = str(name)
    choices = sorted(set(str(c) for c in choices))
    low = name.lower()
    reach = max(1, len(name) // 4)
    ranked = []
    for choice in choices:
        dist = edit_distance(low, choice.lower())
        if dist <= reach:
            kind = 0 if len(choice) == len(name) else (1 if len(choice) > len(name) else 2)
            ranked.append((dist, kind, choice))
    if ranked:
        return [choice for _, _, choice in sorted(ranked)[:n]]
    lowered = {c.lower(): c for c in choices}
    return [lowered[m] for m in difflib.get_close_matches(low, list(lowered), n=n, cutoff=0.6)]


def did_you_mean(name: str, choices: Iterable[str], n: int = 2) -> str:
    """Return ``" — did you mean 'a', 'b'?"``, or ``''`` when no choice is close."""
    matches = close_matches(name, choices, n=n)
    if not matches:
        return ''
    return ' — did you mean ' + ', '.join(repr(m) for m in matches) + '?'


def unknown_keys(section: Iterable[str], allowed: Iterable[str], where: str) -> List[str]:
    """One problem line per key of ``section`` not in ``allowed``: ``"{where}: unknown key 'k'
    — did you mean ...?; valid keys: a, b"`` (the one wording of that check)."""
    allowed = list(allowed)
    return [f'{where}: unknown key {key!r}{did_you_mean(key, allowed)}; valid keys: '
            f'{", ".join(allowed)}' for key in section if key not in allowed]
