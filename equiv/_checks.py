"""Argument validation shared by every public function of :mod:`equiv`.

Every check raises :class:`ValueError` whose message names the argument and
shows the offending value.  Nothing is ever clipped or renormalised.

Data-dependent checks (finiteness, "is this a distribution") need a host sync,
which costs time inside GPU training loops.  They are on by default and can be
switched off with :func:`set_validation` or the :func:`validation` context
manager once a caller has validated its inputs another way.  Structural checks
(shapes, dtypes, scalar ranges) are always on: they are free.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from typing import Iterator, Sequence

import torch

_VALIDATE = True

# A message about bad entries shows at most this many of them, so that it stays one readable line.
MAX_SHOWN_VALUES = 4


def set_validation(enabled: bool) -> None:
    """Turn the data-dependent input checks on or off globally."""
    global _VALIDATE
    if not isinstance(enabled, bool):
        raise ValueError(f"enabled must be a bool, got {enabled!r}")
    _VALIDATE = enabled


def validation_enabled() -> bool:
    """Whether data-dependent input checks are on."""
    return _VALIDATE


@contextlib.contextmanager
def validation(enabled: bool) -> Iterator[None]:
    """Context manager that sets data-dependent validation for its body."""
    previous = _VALIDATE
    set_validation(enabled)
    try:
        yield
    finally:
        set_validation(previous)


def _short(x: object) -> str:
    """A compact repr for error messages (tensors are summarised)."""
    if isinstance(x, torch.Tensor):
        if x.numel() <= 8:
            return f"tensor({x.detach().cpu().tolist()}, dtype={x.dtype})"
        return f"tensor(shape={tuple(x.shape)}, dtype={x.dtype})"
    return repr(x)


def _real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if isinstance(value, torch.Tensor) and value.numel() == 1 and value.dtype.is_floating_point:
            value = float(value.item())
        else:
            raise ValueError(f"{name} must be a real number, got {_short(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def check_tau(tau: object, name: str = "tau") -> float:
    """Temperature τ of the paper: a finite number > 0 (carries reward units)."""
    value = _real(name, tau)
    if value <= 0.0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


def check_gamma(gamma: object, name: str = "gamma") -> float:
    """Discount γ ∈ [0, 1]."""
    value = _real(name, gamma)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return value


def check_unit_interval(value: object, name: str) -> float:
    """A number in [0, 1] (λ of TD(λ), ε of the damped update, ...)."""
    value = _real(name, value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return value


def check_nonnegative(value: object, name: str) -> float:
    value = _real(name, value)
    if value < 0.0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


def check_positive_int(n: object, name: str = "n") -> int:
    """An integer >= 1 (the n of n-step returns, horizons, sizes)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= 1, got {n!r}")
    if int(n) < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {n!r}")
    return int(n)


def check_float_tensor(x: object, name: str, min_dim: int = 0) -> torch.Tensor:
    """A floating-point tensor with finite entries and at least ``min_dim`` dims."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}: {_short(x)}")
    if not x.dtype.is_floating_point:
        raise ValueError(f"{name} must have a floating-point dtype, got {x.dtype}")
    if x.dim() < min_dim:
        raise ValueError(
            f"{name} must have at least {min_dim} dimension(s), got shape {tuple(x.shape)}"
        )
    if _VALIDATE and x.numel() > 0 and not bool(torch.isfinite(x).all()):
        bad = x.detach()[~torch.isfinite(x.detach())].flatten()[:MAX_SHOWN_VALUES].tolist()
        raise ValueError(f"{name} must be finite (no NaN/inf); found values such as {bad}")
    return x


def check_bool_tensor(x: object, name: str, shape: torch.Size) -> torch.Tensor:
    """A boolean mask of exactly ``shape`` (episode-termination flags)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of dtype bool, got {type(x).__name__}")
    if x.dtype != torch.bool:
        raise ValueError(f"{name} must have dtype torch.bool, got {x.dtype}")
    if x.shape != shape:
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(x.shape)}")
    return x


def check_same_dtype(reference_name: str, reference: torch.Tensor, **others: torch.Tensor) -> None:
    for name, t in others.items():
        if t.dtype != reference.dtype:
            raise ValueError(
                f"{name} has dtype {t.dtype} but {reference_name} has dtype {reference.dtype}; "
                "pass both in the same dtype (nothing is cast silently)"
            )


def check_same_shape(reference_name: str, reference: torch.Tensor, **others: torch.Tensor) -> None:
    for name, t in others.items():
        if t.shape != reference.shape:
            raise ValueError(
                f"{name} has shape {tuple(t.shape)} but {reference_name} has shape "
                f"{tuple(reference.shape)}; they must match"
            )


def distribution_tolerance(dtype: torch.dtype, num_actions: int) -> float:
    """How far from 1 a probability vector's sum may be: 16·|A|·eps(dtype).

    Summing |A| correctly rounded numbers accumulates at most about |A|·eps of
    rounding error; the factor 16 leaves room for a normalisation done by the
    caller.  Anything further off is not a distribution and is rejected.
    """
    return 16.0 * num_actions * torch.finfo(dtype).eps


def broadcasts_to(shape: Sequence[int], target: Sequence[int]) -> bool:
    """Whether ``shape`` broadcasts to exactly ``target``: ``torch.broadcast_shapes(shape, target) ==
    target``, decided on the integers (torch's version costs ~50 µs a call, the checks run millions)."""
    if len(shape) > len(target):
        return False
    return all(s == 1 or s == t for s, t in zip(reversed(shape), reversed(target)))


def check_distribution(
    p: object,
    name: str,
    like: torch.Tensor | None = None,
    like_name: str = "q",
) -> torch.Tensor:
    """A probability vector over the last axis: entries >= 0 summing to 1.

    ``like`` (e.g. the Q tensor, named ``like_name`` in messages) fixes the
    dtype and the shape ``p`` must broadcast to.
    """
    p = check_float_tensor(p, name, min_dim=1)
    if like is not None:
        check_same_dtype(like_name, like, **{name: p})
        if not broadcasts_to(p.shape, like.shape):
            raise ValueError(
                f"{name} has shape {tuple(p.shape)}, which does not broadcast to the "
                f"shape of {like_name}, {tuple(like.shape)}"
            )
    if _VALIDATE:
        pd = p.detach()
        if bool((pd < 0).any()):
            raise ValueError(f"{name} must be non-negative; found {pd[pd < 0].flatten()[:MAX_SHOWN_VALUES].tolist()}")
        check_sums_to_one(pd, name, suffix=" (it is not renormalised for you)")
    return p


def check_sums_to_one(p: torch.Tensor, subject: str, suffix: str = "") -> None:
    """Raise unless ``p`` sums to 1 over its last axis within ``distribution_tolerance``.

    The message reads "``subject`` must sum to 1 over its last axis (tolerance …);
    found a sum of …``suffix``", showing the sum furthest from 1.
    """
    sums = p.sum(-1)
    tol = distribution_tolerance(p.dtype, p.shape[-1])
    err = (sums - 1).abs()
    if bool((err > tol).any()):
        worst = float(sums.flatten()[int(err.flatten().argmax())])
        raise ValueError(
            f"{subject} must sum to 1 over its last axis (tolerance {tol:.1e}); found a sum of {worst!r}{suffix}"
        )
