"""Limits on what one email template may cost: source size, work, time and output size.

Admins edit templates, and a template is a program: ``{{ 'A' * 10**8 }}`` asks
for 100 MB, ten nested loops over ``range(10)`` for ten billion steps. Jinja's
sandbox keeps templates away from Python's internals but not from the CPU or
memory, so the environment here adds bounds that are checked *before* the work
is done, in the template's own thread (nothing to kill afterwards):

- every ``for`` loop draws its iterations from one budget of steps per render,
  and every call, attribute look-up and output chunk draws on it too; each draw
  also compares the clock with the render's deadline;
- the operations that make one big value in one step are checked before they
  run: ``*`` on strings and sequences, ``**``, ``%`` formatting, ``~`` joins,
  and the string methods and filters that pad, repeat, join or replace;
- the output is produced chunk by chunk (``Template.generate``) and stops once
  it is larger than allowed.

A template over a limit raises ``TemplateLimitExceeded``: validation refuses it
(a 422 from the API, a message on the editor page), and at send time the email
falls back to the shipped default (``mailflow.outbound.message``).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes, pass_eval_context
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

__all__ = [
    "DEFAULT_LIMITS",
    "LimitHit",
    "LimitedSandbox",
    "TemplateLimits",
    "limited",
    "render_limited",
]


@dataclass(frozen=True, slots=True)
class TemplateLimits:
    """The bounds of one template (see the README, "Template limits", for why these defaults).

    ``max_source_chars``: each part (subject, MJML body, text) as written by the admin.
    ``max_output_chars``: each rendered part, and any one value made while rendering.
    ``max_render_seconds``: one email, every part together.
    ``max_steps``: loop iterations, calls, attribute look-ups and output chunks of one email.
    """

    max_source_chars: int = 100_000
    max_output_chars: int = 1_000_000
    max_render_seconds: float = 1.0
    max_steps: int = 200_000


DEFAULT_LIMITS = TemplateLimits()
# ``**`` results above this many bits are refused: 10**1000 is fine, 10**10**10 is a CPU stall.
MAX_POWER_BITS = 100_000


class LimitHit(Exception):
    """A template reached a limit (``source_size``, ``output_size``, ``steps`` or ``render_time``)."""

    def __init__(self, limit: str, detail: str) -> None:
        super().__init__(detail)
        self.limit = limit
        self.detail = detail


class _Budget:
    __slots__ = ("deadline", "limits", "steps")

    def __init__(self, limits: TemplateLimits) -> None:
        self.limits = limits
        self.steps = limits.max_steps
        self.deadline = time.monotonic() + limits.max_render_seconds

    def spend(self, count: int = 1) -> None:
        self.steps -= count
        if self.steps < 0:
            raise LimitHit("steps", f"the template does more than {self.limits.max_steps:,} steps")
        if time.monotonic() > self.deadline:
            raise LimitHit(
                "render_time",
                f"the template takes longer than {self.limits.max_render_seconds:g} s to render",
            )

    def size(self, length: int) -> None:
        if length > self.limits.max_output_chars:
            raise LimitHit(
                "output_size",
                f"the template makes a text of {length:,} characters, "
                f"more than the limit of {self.limits.max_output_chars:,}",
            )


_BUDGET: ContextVar[_Budget | None] = ContextVar("mailflow_template_budget", default=None)


def _budget() -> _Budget:
    budget = _BUDGET.get()
    if budget is None:
        # Rendered outside ``limited`` (Template.render in a test or a tool): sizes are still
        # checked, but there is no render to count steps or time for.
        return _Budget(DEFAULT_LIMITS)
    return budget


@contextmanager
def limited(limits: TemplateLimits) -> Iterator[_Budget]:
    """Inside: every template rendered in this thread draws on one fresh budget of ``limits``."""
    budget = _Budget(limits)
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


def _length(value: Any) -> int:
    try:
        return len(value)
    except TypeError:
        return 0


def _format_widths(template: Any, budget: _Budget) -> None:
    """Refuse a format string whose widths or precisions alone exceed the output limit."""
    if isinstance(template, str):
        for digits in re.findall(r"\d{7,}", template):
            budget.size(int(digits))


def _loop(iterable: Any) -> Iterator[Any]:
    budget = _budget()
    for item in iterable:
        budget.spend()
        yield item


@pass_eval_context
def _concat(eval_ctx: EvalContext, *parts: Any) -> str:
    budget = _budget()
    texts = [part if isinstance(part, str) else str(part) for part in parts]
    budget.size(sum(len(text) for text in texts))
    return str(markup_join(parts) if eval_ctx.autoescape else str_join(texts))


class _Instrument(NodeTransformer):
    """Loops draw from the budget; ``~`` joins are measured before they are made."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "mailflow_loop", [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        if not node.nodes:
            return node
        first, *rest = node.nodes
        return nodes.Filter(first, "mailflow_concat", list(rest), [], None, None, lineno=node.lineno)


# String methods that can make a large value from small arguments, with the size they would make.
def _str_method_size(name: str, text: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int | None:
    values = [*args, *kwargs.values()]
    if name in {"center", "ljust", "rjust", "zfill"} and values and isinstance(values[0], int):
        return max(len(text), values[0])
    if name == "expandtabs":
        width = values[0] if values and isinstance(values[0], int) else 8
        return len(text) + text.count("\t") * max(width, 0)
    if name == "replace" and len(values) >= 2 and isinstance(values[0], str) and isinstance(values[1], str):
        count = text.count(values[0]) if values[0] else len(text) + 1
        return len(text) + count * len(values[1])
    if name == "join" and values and isinstance(values[0], (list, tuple, str)):  # not a generator: kept
        items = values[0]
        return sum(_length(item) for item in items) + len(text) * max(len(items) - 1, 0)
    return None


def _filter_size(name: str, values: list[Any]) -> int | None:
    """The size filter ``name`` would make from ``values`` (its value first), for those that multiply."""
    subject = values[0] if values else None
    if name == "join" and isinstance(subject, (list, tuple)):  # a generator is measured by its result
        items = [str(item) for item in subject]
        separator = values[1] if len(values) > 1 and isinstance(values[1], str) else ""
        return sum(len(item) for item in items) + len(separator) * max(len(items) - 1, 0)
    if not isinstance(subject, str):
        return None
    if name == "indent":
        width = values[1] if len(values) > 1 else 4
        pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        return len(subject) + (subject.count("\n") + 1) * max(pad, 0)
    if name == "replace" and len(values) >= 3 and isinstance(values[1], str):
        count = subject.count(values[1]) if values[1] else len(subject) + 1
        return len(subject) + count * _length(values[2])
    if name == "center" and len(values) > 1 and isinstance(values[1], int):
        return max(len(subject), values[1])
    return None


def _guard_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (a filter) with its arguments and result measured against the budget."""

    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.spend()
        values = [
            value for value in (*args, *kwargs.values()) if not isinstance(value, (Context, EvalContext))
        ]
        if name == "format" and values:
            _format_widths(values[0], budget)
        size = _filter_size(name, values)
        if size is not None:
            budget.size(size)
        result = function(*args, **kwargs)
        if isinstance(result, (str, list, tuple)):
            budget.size(len(result))
        return result

    guarded.__name__ = getattr(function, "__name__", name)
    # Keep Jinja's pass_context / pass_eval_context / pass_environment marker.
    marker = getattr(function, "jinja_pass_arg", None)
    if marker is not None:
        guarded.jinja_pass_arg = marker  # type: ignore[attr-defined]
    return guarded


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with the bounds of this module (see its docstring)."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _guard_filter(name, function) for name, function in self.filters.items()}
        self.filters["mailflow_loop"] = _loop
        self.filters["mailflow_concat"] = _concat

    def _generate(
        self, source: nodes.Template, name: str | None, filename: str | None, defer_init: bool = False
    ) -> str:
        instrumented = _Instrument().visit(source)
        assert isinstance(instrumented, nodes.Template)
        return super()._generate(instrumented, name, filename, defer_init=defer_init)

    def call_binop(self, context: Context, operator_name: str, left: Any, right: Any) -> Any:
        budget = _budget()
        budget.spend()
        if operator_name == "*":
            for sequence, times in ((left, right), (right, left)):
                if isinstance(times, int) and isinstance(sequence, (str, list, tuple)):
                    budget.size(len(sequence) * max(times, 0))
        elif operator_name == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            bits = right * math.log2(abs(left)) if abs(left) > 1 else 0
            if bits > MAX_POWER_BITS:
                raise LimitHit("output_size", f"{left} ** {right} is too large a number")
        elif operator_name == "%":
            _format_widths(left, budget)
        elif (
            operator_name == "+"
            and isinstance(left, (str, list, tuple))
            and isinstance(right, (str, list, tuple))
        ):
            budget.size(len(left) + len(right))
        return self.binop_table[operator_name](left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.spend()
        # The sandbox hands out str.format wrapped (functools.update_wrapper keeps the method).
        method = getattr(__obj, "__wrapped__", __obj)
        owner = getattr(method, "__self__", None)
        name = getattr(method, "__name__", "")
        if isinstance(owner, str):
            if name in {"format", "format_map"}:
                _format_widths(owner, budget)
            size = _str_method_size(name, owner, args, kwargs)
            if size is not None:
                budget.size(size)
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, (str, list, tuple)):
            budget.size(len(result))
        return result

    def getattr(self, obj: Any, attribute: str) -> Any:
        _budget().spend()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _budget().spend()
        return super().getitem(obj, argument)


def render_limited(template: Any, context: Mapping[str, Any]) -> str:
    """``template`` rendered chunk by chunk within the budget of the current render (``limited``)."""
    budget = _budget()
    chunks: list[str] = []
    total = 0
    for chunk in template.generate(context):
        total += len(chunk)
        budget.size(total)
        budget.spend()
        chunks.append(chunk)
    return "".join(chunks)
