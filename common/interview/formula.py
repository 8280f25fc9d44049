"""A small, safe evaluator for the arithmetic of a numeric interview question.

    evaluate("ceil(10 * peak_rps / (knee_rps * (1 - 0.3)))",
             {"peak_rps": 400.0, "knee_rps": 612.5})            # -> 10

A question bank is data, so its formulas must not be code: ``eval`` would run
anything a bank file says. This walks Python's parse tree and allows only

- numbers (not booleans, strings or containers),
- names bound to the question's figures,
- ``+ - * / // % **``, unary ``-`` and ``+``, parentheses,
- calls, by position, to ``ceil floor sqrt log log2 log10 exp min max abs round``.

Everything else (attribute access, subscripts, imports, lambdas,
comprehensions, comparisons, keyword arguments) is refused with a
:class:`FormulaError` that names the construct. ``check`` does the same
without values, so a bank is checked when it is loaded, not when asked.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from common.kit.errors import KitError

Number = int | float

FUNCTIONS: dict[str, Callable[..., Number]] = {
    "ceil": math.ceil,
    "floor": math.floor,
    "sqrt": math.sqrt,
    "log": math.log,
    "log2": math.log2,
    "log10": math.log10,
    "exp": math.exp,
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
# Names for what a bank author might try, so the refusal says what it saw.
_REFUSED: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripts",
    ast.Lambda: "lambdas",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.Compare: "comparisons",
    ast.BoolOp: "and/or",
    ast.IfExp: "if-else",
    ast.NamedExpr: "assignment (:=)",
    ast.JoinedStr: "f-strings",
    ast.List: "lists",
    ast.Tuple: "tuples",
    ast.Dict: "dicts",
    ast.Set: "sets",
    ast.Starred: "starred arguments",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}
MAX_EXPONENT = 1000  # 9 ** 9 ** 9 would hang the kit computing a huge integer


class FormulaError(KitError, ValueError):
    """A formula uses something the evaluator does not allow, or cannot be computed."""


def _parse(formula: str) -> ast.expr:
    if not isinstance(formula, str) or not formula.strip():
        raise FormulaError("a formula must be a non-empty string of arithmetic.")
    try:
        return ast.parse(formula.strip(), mode="eval").body
    except SyntaxError as exc:
        raise FormulaError(
            f"{formula!r} is not an arithmetic expression ({exc.msg}); statements "
            "such as import or assignment are not allowed."
        ) from None


def _refuse(node: ast.AST, formula: str) -> FormulaError:
    what = _REFUSED.get(type(node), type(node).__name__)
    return FormulaError(
        f"{formula!r} uses {what}, which a formula may not: only numbers, the "
        "figures' names, + - * / // % **, parentheses and calls to "
        f"{', '.join(FUNCTIONS)}."
    )


def _walk(node: ast.AST, names: Mapping[str, Number], formula: str, run: bool) -> Any:
    """Evaluate ``node``; with ``run=False`` only check it (every value is 1.0)."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise FormulaError(
                f"{formula!r} contains the constant {node.value!r}; only numbers are allowed."
            )
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in names:
            bound = ", ".join(sorted(names)) or "none"
            raise FormulaError(
                f"{formula!r} uses the name {node.id!r}, which is not one of the "
                f"question's figures (bound: {bound})."
            )
        return names[node.id] if run else 1.0
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left = _walk(node.left, names, formula, run)
        right = _walk(node.right, names, formula, run)
        return _binary(node.op, left, right, formula) if run else 1.0
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_walk(node.operand, names, formula, run))
    if isinstance(node, ast.Call):
        return _call(node, names, formula, run)
    raise _refuse(node, formula)


def _binary(op: ast.operator, left: Number, right: Number, formula: str) -> Number:
    if isinstance(op, ast.Pow) and abs(right) > MAX_EXPONENT:
        raise FormulaError(
            f"{formula!r} raises to the power {right}; exponents above "
            f"{MAX_EXPONENT} are refused."
        )
    try:
        return _BINARY[type(op)](left, right)
    except ZeroDivisionError:
        raise FormulaError(f"{formula!r} divides by zero with these figures.") from None
    except OverflowError:
        raise FormulaError(f"{formula!r} overflows with these figures.") from None


def _call(node: ast.Call, names: Mapping[str, Number], formula: str, run: bool) -> Any:
    if not isinstance(node.func, ast.Name):
        raise _refuse(node.func, formula)
    function = FUNCTIONS.get(node.func.id)
    if function is None:
        raise FormulaError(
            f"{formula!r} calls {node.func.id!r}, which is not allowed; the "
            f"functions are {', '.join(FUNCTIONS)}."
        )
    if node.keywords:
        raise FormulaError(
            f"{formula!r} passes keyword arguments to {node.func.id}; pass them by position."
        )
    if not node.args:
        raise FormulaError(f"{formula!r} calls {node.func.id} with no arguments.")
    args = [_walk(arg, names, formula, run) for arg in node.args]
    if not run:
        return 1.0
    try:
        return function(*args)
    except (ValueError, TypeError, OverflowError) as exc:
        raise FormulaError(
            f"{formula!r}: {node.func.id}({', '.join(map(str, args))}) cannot be "
            f"computed ({exc})."
        ) from None


def check(formula: str, names: set[str] | frozenset[str]) -> None:
    """Refuse a formula that uses anything but allowed syntax and ``names``.

    Raises:
        FormulaError: naming the construct or the unbound name.
    """
    _walk(_parse(formula), dict.fromkeys(names, 1.0), formula, run=False)


def names_in(formula: str) -> set[str]:
    """The figure names a formula reads (not the functions it calls)."""
    tree = _parse(formula)
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    return {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and id(node) not in called
    }


def evaluate(formula: str, names: Mapping[str, Number]) -> Number:
    """The value of ``formula`` with ``names`` bound (see the module doc).

    Raises:
        FormulaError: the formula is not allowed, or cannot be computed.
    """
    for name, value in names.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FormulaError(f"the figure {name!r} is {value!r}, not a number.")
    value = _walk(_parse(formula), names, formula, run=True)
    if isinstance(value, float) and not math.isfinite(value):
        raise FormulaError(f"{formula!r} gives {value} with these figures.")
    return value
