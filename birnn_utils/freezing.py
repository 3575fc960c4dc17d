"""Freeze and unfreeze parameters by name, list what trains, and check that frozen stays frozen.

Names are those of ``module.named_parameters()`` (e.g. ``"rnn.weight_ih_l0_reverse"``);
patterns are shell-style globs matched case-sensitively with :func:`fnmatch.fnmatchcase`
(``"*_reverse"``, ``"rnn.*"``, ``"head.weight"``). A parameter shared under two names is
listed once, under the first name ``named_parameters()`` gives it.

- :func:`freeze` / :func:`unfreeze` set ``requires_grad`` and return the names they changed.
- :func:`trainable_parameters` returns a :class:`ParameterTable` (text and HTML renderings).
- :func:`snapshot` / :func:`changed_parameters` compare parameters bit for bit.
- :func:`assert_unchanged` is a context manager that fails, naming them, if watched
  parameters changed inside the block (by default: the ones frozen on entry).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from fnmatch import fnmatchcase
from typing import NamedTuple

import torch
from torch import nn

from birnn_utils.validation import describe

__all__ = [
    "ParameterRow",
    "ParameterTable",
    "assert_unchanged",
    "changed_parameters",
    "freeze",
    "snapshot",
    "trainable_parameters",
    "unfreeze",
]


def _check_module(module: object, func: str) -> None:
    if not isinstance(module, nn.Module):
        raise TypeError(f"{func}(): module must be an nn.Module, got {describe(module)}")


def _select(module: nn.Module, patterns: tuple, func: str) -> dict[str, nn.Parameter]:
    """Parameters whose name matches any pattern (all of them for no pattern), by name.

    Raises before anything is changed: every pattern must be a string matching something.
    """
    _check_module(module, func)
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise TypeError(
                f"{func}() patterns must be strings, got {describe(pattern)}; "
                f"pass several patterns as separate arguments: {func}(module, 'a.*', 'b.*')"
            )
    params = dict(module.named_parameters())
    if not patterns:
        return params
    unmatched = [p for p in patterns if not any(fnmatchcase(name, p) for name in params)]
    if unmatched:
        raise ValueError(
            f"{func}(): patterns {unmatched} match no parameter of "
            f"{type(module).__name__}; expected globs over these names: {sorted(params)}"
        )
    return {n: p for n, p in params.items() if any(fnmatchcase(n, pat) for pat in patterns)}


def _set_requires_grad(module: nn.Module, patterns: tuple, flag: bool, func: str) -> list[str]:
    selected = _select(module, patterns, func)
    changed = sorted(name for name, p in selected.items() if p.requires_grad != flag)
    for name in changed:
        selected[name].requires_grad_(flag)
    return changed


def freeze(module: nn.Module, *patterns: str) -> list[str]:
    """Set ``requires_grad=False`` on the parameters whose name matches any glob pattern.

    No pattern means every parameter. Returns the sorted names that were trainable before
    (the ones actually changed). A pattern matching no parameter raises ``ValueError``
    and nothing is changed.
    """
    return _set_requires_grad(module, patterns, False, "freeze")


def unfreeze(module: nn.Module, *patterns: str) -> list[str]:
    """Set ``requires_grad=True`` on matching parameters; the inverse of :func:`freeze`.

    Note ``unfreeze(m, *names)`` with an empty ``names`` unfreezes *everything*.
    """
    return _set_requires_grad(module, patterns, True, "unfreeze")


class _ParameterRowFields(NamedTuple):
    name: str
    shape: tuple[int, ...]
    count: int
    trainable: bool


class ParameterRow(_ParameterRowFields):
    """One parameter: its name, shape, number of elements and whether it trains.

    The fields are checked: a str, a tuple of ints >= 0, their product, a bool.
    """

    __slots__ = ()

    def __new__(cls, name: str, shape: tuple[int, ...], count: int,
                trainable: bool) -> ParameterRow:
        if not isinstance(name, str):
            raise TypeError(f"ParameterRow: name must be a str, got {describe(name)}")
        if isinstance(shape, torch.Size):
            shape = tuple(shape)
        if not isinstance(shape, tuple) or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in shape
        ):
            raise TypeError(f"ParameterRow: shape must be a tuple of ints, got {describe(shape)}")
        if any(s < 0 for s in shape):
            raise ValueError(f"ParameterRow: shape must hold sizes >= 0, got {shape}")
        if not isinstance(count, int) or isinstance(count, bool):
            raise TypeError(f"ParameterRow: count must be an int, got {describe(count)}")
        expected = 1
        for size in shape:
            expected *= size
        if count != expected:
            raise ValueError(
                f"ParameterRow: count must be the number of elements of shape {shape} "
                f"({expected}), got {count}"
            )
        if not isinstance(trainable, bool):
            raise TypeError(f"ParameterRow: trainable must be a bool, got {describe(trainable)}")
        return super().__new__(cls, name, shape, count, trainable)


class ParameterTable:
    """The parameters of a module, one :class:`ParameterRow` each, with totals.

    ``str(table)`` gives aligned plain text; notebooks show ``_repr_html_``.
    """

    def __init__(self, rows: Iterable[ParameterRow]):
        if isinstance(rows, str | bytes) or not isinstance(rows, Iterable):
            raise TypeError(f"ParameterTable: rows must be an iterable of ParameterRow, "
                            f"got {describe(rows)}")
        rows = tuple(rows)
        bad = [r for r in rows if not isinstance(r, ParameterRow)]
        if bad:
            raise TypeError(f"ParameterTable: rows must hold ParameterRow objects, "
                            f"got {describe(bad[0])}")
        self.rows: tuple[ParameterRow, ...] = rows

    @property
    def trainable_count(self) -> int:
        return sum(r.count for r in self.rows if r.trainable)

    @property
    def frozen_count(self) -> int:
        return sum(r.count for r in self.rows if not r.trainable)

    @property
    def total_count(self) -> int:
        return sum(r.count for r in self.rows)

    @property
    def trainable_names(self) -> list[str]:
        return [r.name for r in self.rows if r.trainable]

    @property
    def frozen_names(self) -> list[str]:
        return [r.name for r in self.rows if not r.trainable]

    def totals(self) -> str:
        return (
            f"{self.trainable_count:,} trainable / {self.frozen_count:,} frozen / "
            f"{self.total_count:,} total"
        )

    def _cells(self) -> list[tuple[str, str, str, str]]:
        return [
            (r.name, str(tuple(r.shape)), f"{r.count:,}", "yes" if r.trainable else "no")
            for r in self.rows
        ]

    def __str__(self) -> str:
        header = ("name", "shape", "count", "trainable")
        cells = [header, *self._cells()]
        widths = [max(len(row[i]) for row in cells) for i in range(4)]

        def line(row: tuple[str, str, str, str]) -> str:
            name, shape, count, trainable = row
            return (
                f"{name:<{widths[0]}}  {shape:<{widths[1]}}  {count:>{widths[2]}}  "
                f"{trainable:<{widths[3]}}"
            ).rstrip()

        rule = "-" * (sum(widths) + 6)
        return "\n".join([line(header), rule, *map(line, cells[1:]), rule, self.totals()])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        body = "".join(
            "<tr>"
            f"<td style='text-align:left'><code>{html.escape(name)}</code></td>"
            f"<td>{html.escape(shape)}</td><td style='text-align:right'>{count}</td>"
            f"<td>{'&#10003;' if trainable == 'yes' else '&#10007; frozen'}</td>"
            "</tr>"
            for name, shape, count, trainable in self._cells()
        )
        return (
            "<table><thead><tr><th style='text-align:left'>name</th><th>shape</th>"
            "<th>count</th><th>trainable</th></tr></thead>"
            f"<tbody>{body}</tbody><tfoot><tr><td colspan='4' style='text-align:left'>"
            f"{html.escape(self.totals())}</td></tr></tfoot></table>"
        )


def trainable_parameters(module: nn.Module) -> ParameterTable:
    """Table of ``module``'s parameters: name, shape, count, trainable (``requires_grad``)."""
    _check_module(module, "trainable_parameters")
    return ParameterTable(
        ParameterRow(name, tuple(p.shape), p.numel(), p.requires_grad)
        for name, p in module.named_parameters()
    )


def _resolve_names(module: nn.Module, names: Iterable[str] | None, func: str) -> list[str]:
    """Validated parameter names: ``names`` if given, else the frozen parameters."""
    _check_module(module, func)
    params = dict(module.named_parameters())
    if names is None:
        return [n for n, p in params.items() if not p.requires_grad]
    if isinstance(names, str | bytes) or not isinstance(names, Iterable):
        raise TypeError(
            f"{func}() names must be an iterable of parameter names (e.g. a list), "
            f"got {describe(names)}"
        )
    names = list(names)
    bad_types = [n for n in names if not isinstance(n, str)]
    if bad_types:
        raise TypeError(f"{func}() names must be strings, got {describe(bad_types[0])} "
                        f"in {describe(names)}")
    unknown = [n for n in names if n not in params]
    if unknown:
        raise ValueError(
            f"{func}(): names holds unknown parameter name(s) {unknown} for "
            f"{type(module).__name__}; "
            f"expected some of {sorted(params)}"
        )
    return list(dict.fromkeys(names))


def snapshot(module: nn.Module, names: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
    """Detached clones of parameters by name (all of them when ``names`` is None)."""
    _check_module(module, "snapshot")
    if names is None:
        names = [n for n, _ in module.named_parameters()]
    selected = _resolve_names(module, names, "snapshot")
    params = dict(module.named_parameters())
    return {n: params[n].detach().clone() for n in selected}


def _bits(t: torch.Tensor) -> torch.Tensor:
    """The raw bytes of ``t`` (so ``-0.0 != 0.0`` and NaN equals the same NaN)."""
    return t.detach().contiguous().reshape(-1).view(torch.uint8)


def _max_abs_change(before: torch.Tensor, after: torch.Tensor) -> float:
    if before.shape != after.shape:
        return float("nan")
    return (after.detach().double() - before.double()).abs().max().item()


def changed_parameters(before: dict[str, torch.Tensor], module: nn.Module) -> list[str]:
    """Sorted names in ``before`` (from :func:`snapshot`) whose values are no longer
    bit-identical in ``module`` (changed values, shape or dtype, or parameter gone)."""
    _check_module(module, "changed_parameters")
    if not isinstance(before, dict):
        raise TypeError(
            "changed_parameters(): before must be the dict returned by snapshot(), "
            f"got {describe(before)}"
        )
    for name, old in before.items():
        if not isinstance(name, str) or not isinstance(old, torch.Tensor):
            raise TypeError(
                "changed_parameters(): before must map parameter names (str) to tensors, "
                f"as snapshot() returns, got {describe(name)}: {describe(old)}"
            )
    params = dict(module.named_parameters())
    changed = []
    for name, old in before.items():
        new = params.get(name)
        if (
            new is None
            or new.shape != old.shape
            or new.dtype != old.dtype
            or not torch.equal(_bits(new), _bits(old))
        ):
            changed.append(name)
    return sorted(changed)


@contextmanager
def assert_unchanged(module: nn.Module, names: Iterable[str] | None = None) -> Iterator[list[str]]:
    """Fail if watched parameters change inside the ``with`` block.

    Watches ``names`` if given, else the parameters frozen on entry (``ValueError`` if
    there are none, since such a check could never fail). Yields the watched names. On
    exit raises ``AssertionError`` naming each parameter that is not bit-identical, with
    its largest absolute change. An exception raised inside the block propagates unchecked.
    """
    watched = _resolve_names(module, names, "assert_unchanged")
    if not watched:
        raise ValueError(
            f"assert_unchanged(): {type(module).__name__} has no frozen parameter to watch; "
            "freeze some first or pass names=[...]"
        )
    before = snapshot(module, watched)
    yield list(watched)
    changed = changed_parameters(before, module)
    if changed:
        params = dict(module.named_parameters())
        details = ", ".join(
            f"{n} (max abs change {_max_abs_change(before[n], params[n]):.3g})"
            if n in params
            else f"{n} (no longer a parameter)"
            for n in changed
        )
        raise AssertionError(f"{len(changed)} watched parameter(s) changed: {details}")
