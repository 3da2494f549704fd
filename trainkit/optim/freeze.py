"""Finetuning: keep only the parameters whose names contain a keyword trainable.

``finetune_modules = ['output', 'embed']`` leaves e.g. ``embedding.weight`` and
``output_energy.0.weight`` trainable and sets ``requires_grad=False`` on every other
parameter. The Runner freezes before wrapping the model in DDP and before building the
optimizer, which then never sees the frozen parameters.
"""
from typing import Iterable, List, Tuple

from torch import nn

from trainkit.errors import ConfigError
from trainkit.utils.suggest import close_matches


def module_prefixes(model: nn.Module, depth: int = 2) -> List[str]:
    """Distinct parameter-name prefixes up to ``depth`` dotted parts, for error messages."""
    prefixes = []
    for name, _ in model.named_parameters():
        parts = name.split('.')
        for d in range(1, min(depth, len(parts) - 1) + 1):
            prefixes.append('.'.join(parts[:d]))
    return list(dict.fromkeys(prefixes))


def check_name_keys(model: nn.Module, keys: Iterable[str], where: str) -> None:
    """Every key is part of some parameter name (how ``finetune_modules`` and
    ``paramwise_cfg.custom_keys`` pick parameters); else a ConfigError naming, per key, the
    nearest parameter names and the model's modules."""
    names = [name for name, _ in model.named_parameters()]
    unmatched = [k for k in keys if not any(k in name for name in names)]
    if not unmatched:
        return
    candidates = names + module_prefixes(model)
    near = [f'{k!r}: nearest {close_matches(k, candidates, n=3)}' for k in unmatched
            if close_matches(k, candidates, n=3)]
    raise ConfigError(f'{where}: {unmatched} match no parameter name'
                      f'{" (" + "; ".join(near) + ")" if near else ""}. The model\'s modules '
                      f'are: {", ".join(module_prefixes(model))}; a key selects every parameter '
                      f'whose full name contains it')


def freeze_except(model: nn.Module, keywords: Iterable[str]) -> Tuple[int, int]:
    """Freeze all parameters whose name contains none of ``keywords``.

    Returns:
        (number of trainable parameters, number of frozen parameters), counted in elements.

    Raises:
        ConfigError: a keyword matches no parameter (the message lists the module prefixes).
    """
    if isinstance(keywords, str):
        keywords = [keywords]
    keywords = list(keywords)
    if not keywords or not all(isinstance(k, str) and k for k in keywords):
        raise ConfigError(f'finetune_modules: expected a non-empty list of name keywords, got '
                          f'{keywords!r}')
    check_name_keys(model, keywords, 'finetune_modules')
    for name, param in model.named_parameters():
        param.requires_grad_(any(k in name for k in keywords))
    return count_trainable(model)


def count_trainable(model: nn.Module) -> Tuple[int, int]:
    """(trainable, frozen) parameter element counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return trainable, frozen
