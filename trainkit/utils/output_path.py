"""The one check of a tool's output path: its folder exists, and a picture has a format
matplotlib writes. Run before any work, so a typo costs nothing::

    check_output_path('figs/lr.png', '--save-path', picture=True)
"""
import os

from trainkit.errors import ConfigError

PICTURE_FORMATS = ('png', 'pdf', 'svg', 'jpg', 'jpeg', 'eps', 'ps', 'tif', 'tiff', 'webp')


def check_output_path(path: str, option: str, picture: bool = False) -> None:
    """Raise a :class:`ConfigError` naming ``option`` when ``path``'s folder is missing or,
    with ``picture``, when its suffix is no picture format."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigError(f'{option} {path!r}: the folder {folder!r} does not exist; create it '
                          f'first or choose another path')
    if picture:
        suffix = os.path.splitext(path)[1].lstrip('.').lower()
        if suffix not in PICTURE_FORMATS:
            raise ConfigError(f'{option} {path!r}: unsupported picture format '
                              f'{suffix or "(none)"!r}; use one of '
                              f'{", ".join("." + f for f in PICTURE_FORMATS)}')
