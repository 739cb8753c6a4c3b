"""Reading a WGSL module's interface from its text, in pure Python (no GPU, no naga).

One reader for built-in and user kernels: the resource bindings (name, group, binding, address
space, access, type), the structs and their fields, ``override`` and ``const`` integers, the
@compute entry points with their workgroup sizes, and which bindings an entry actually uses
(WebGPU's ``layout="auto"`` drops the others, so a bind group must leave them out too).

It reads the declarations WGSL kernels are written with, not every construct of the language:
what it can't evaluate (a workgroup size computed by a function call, say) is reported as such.
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass

_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_ATTRIBUTES = r"((?:@\w+\s*(?:\([^()]*(?:\([^()]*\)[^()]*)*\))?\s*)+)"
_VARIABLE = re.compile(_ATTRIBUTES + r"var(?:\s*<([^>]*)>)?\s+(\w+)\s*:\s*([^;=]+?)\s*;")
_ENTRY = re.compile(_ATTRIBUTES + r"fn\s+(\w+)\s*\(")
_FUNCTION = re.compile(r"\bfn\s+(\w+)\s*\(")
_STRUCT = re.compile(r"\bstruct\s+(\w+)\s*\{([^}]*)\}")
_CONSTANT = re.compile(r"\b(override|const)\s+(\w+)\s*(?::\s*(\w+))?\s*(?:=\s*([^;]+?))?\s*;")
_ATTRIBUTE = re.compile(r"@(\w+)\s*(?:\(([^()]*(?:\([^()]*\)[^()]*)*)\))?")
_INTEGER = re.compile(r"^(0[xX][0-9a-fA-F]+|\d+)[iu]?$")
_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
              ast.FloorDiv: operator.floordiv, ast.Div: operator.floordiv, ast.Mod: operator.mod}


class ReflectionError(ValueError):
    """The source lacks what was asked for (an entry point), or declares it in a way this reader
    can't evaluate."""


@dataclass(frozen=True)
class Binding:
    """One resource variable of a module, as declared.

    Attributes:
        name: the WGSL variable name; values are bound by it.
        group, binding: its @group and @binding numbers.
        kind: "storage", "uniform", or "texture"/"sampler"/"other" for what the workbench
            does not bind from NumPy.
        access: "read" or "read_write" for storage, None otherwise.
        element_type: the type of one element: "f32" for ``array<f32>``, "vec4<f32>" for
            ``array<vec4<f32>, 16>``, the struct name for ``var<uniform> params: Params``.
        type: the declared type as written (whitespace removed), e.g. "array<vec4<f32>,16>".
        count: the length of a fixed-size array (None for runtime-sized arrays and non-arrays).
    """

    name: str
    group: int
    binding: int
    kind: str
    access: str | None
    element_type: str
    type: str
    count: int | None = None


def strip_comments(source: str) -> str:
    """``source`` with each comment blanked out, keeping every newline and column in place."""
    return _COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), source)


def split_top(text: str, separator: str = ",") -> list[str]:
    """``text`` split at ``separator`` outside <> and () (``array<f32, 4>`` stays whole)."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"<": 1, "(": 1, ">": -1, ")": -1}.get(char, 0)
        if char == separator and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def _attributes(text: str) -> dict[str, str]:
    return {name: (value or "").strip() for name, value in _ATTRIBUTE.findall(text)}


def integers(source: str, constants: dict[str, int] | None = None) -> dict[str, int]:
    """The module's ``override`` and ``const`` integers (overrides replaced by ``constants``);
    those without a value or with one this reader can't evaluate are left out."""
    code = strip_comments(source)
    values: dict[str, int] = {}
    for _, name, _, expression in _CONSTANT.findall(code):
        if constants and name in constants:
            values[name] = int(constants[name])
        elif expression:
            try:
                values[name] = evaluate(expression, values)
            except ReflectionError:
                continue
    return values


def overrides(source: str) -> dict[str, tuple[str | None, bool]]:
    """The module's ``override`` constants in source order: name → (declared type or None when
    inferred, whether it has a default)."""
    return {name: (kind or None, bool(default)) for what, name, kind, default
            in _CONSTANT.findall(strip_comments(source)) if what == "override"}


def evaluate(expression: str, names: dict[str, int]) -> int:
    """An integer WGSL expression of literals (``64``, ``64u``), ``names`` and + - * / %.

    Raises:
        ReflectionError: it uses anything else (a function call, an unknown name).
    """
    text = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[iu]\b", r"\1", expression.strip())

    def value(node: ast.AST) -> int:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name) and node.id in names:
            return names[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)
        raise ReflectionError(f"cannot evaluate {expression.strip()!r} (integer literals, "
                              f"override/const names and + - * / % only)")

    try:
        return value(ast.parse(text, mode="eval").body)
    except SyntaxError:
        raise ReflectionError(f"cannot evaluate {expression.strip()!r}") from None


def bindings(source: str, constants: dict[str, int] | None = None) -> list[Binding]:
    """Every resource variable the module declares, in source order."""
    code = strip_comments(source)
    sizes = integers(source, constants)
    found = []
    for attributes, space, name, declared in _VARIABLE.findall(code):
        attributes = _attributes(attributes)
        if "group" not in attributes or "binding" not in attributes:
            continue  # a var<workgroup> or var<private>, not a resource
        declared = re.sub(r"\s+", "", declared)
        space_parts = [part.strip() for part in space.split(",")] if space else []
        if space_parts[:1] == ["storage"]:
            kind, access = "storage", (space_parts[1] if len(space_parts) > 1 else "read")
        elif space_parts[:1] == ["uniform"]:
            kind, access = "uniform", None
        elif declared.startswith("texture"):
            kind, access = "texture", None
        elif declared.startswith("sampler"):
            kind, access = "sampler", None
        else:
            kind, access = "other", None
        element, count = declared, None
        if declared.startswith("array<") and declared.endswith(">"):
            parts = split_top(declared[len("array<"):-1])
            element = parts[0]
            if len(parts) > 1:
                try:
                    count = evaluate(parts[1], sizes)
                except ReflectionError:
                    count = None
        found.append(Binding(name, int(evaluate(attributes["group"], sizes)),
                             int(evaluate(attributes["binding"], sizes)), kind, access,
                             element, declared, count))
    return found


def structs(source: str) -> dict[str, list[tuple[str, str]]]:
    """Each struct's fields in order as (name, type), attributes such as @align dropped."""
    found = {}
    for name, body in _STRUCT.findall(strip_comments(source)):
        fields = []
        for member in split_top(body.replace(";", ","), ","):
            member = re.sub(r"@\w+\s*(\([^)]*\))?", "", member).strip()
            field, _, kind = member.partition(":")
            fields.append((field.strip(), re.sub(r"\s+", "", kind)))
        found[name] = fields
    return found


def functions(source: str) -> frozenset[str]:
    """The names of the functions ``source`` defines."""
    return frozenset(_FUNCTION.findall(strip_comments(source)))


def entry_points(source: str) -> list[str]:
    """The @compute functions, in source order."""
    return [name for attributes, name in _ENTRY.findall(strip_comments(source))
            if "compute" in _attributes(attributes)]


def workgroup_size(source: str, entry: str,
                   constants: dict[str, int] | None = None) -> tuple[int, int, int]:
    """``entry``'s @workgroup_size as (x, y, z), overrides replaced by ``constants``.

    Raises:
        ReflectionError: no such @compute entry, or a size this reader can't evaluate.
    """
    attributes = entry_attributes(source, entry)
    if "workgroup_size" not in attributes:
        raise ReflectionError(f"entry point {entry!r} has no @workgroup_size")
    names = integers(source, constants)
    sizes = [evaluate(part, names) for part in split_top(attributes["workgroup_size"])]
    return tuple(sizes + [1] * (3 - len(sizes)))  # type: ignore[return-value]


def entry_attributes(source: str, entry: str) -> dict[str, str]:
    """The attributes of @compute function ``entry`` by name ({"workgroup_size": "64"}, ...).

    Raises:
        ReflectionError: no such @compute entry.
    """
    for attributes, name in _ENTRY.findall(strip_comments(source)):
        attributes = _attributes(attributes)
        if name == entry and "compute" in attributes:
            return attributes
    raise ReflectionError(f"entry point {entry!r} not found; @compute entry points are "
                          f"{entry_points(source)}")


def _function_bodies(code: str) -> dict[str, str]:
    bodies = {}
    for match in _FUNCTION.finditer(code):
        start = code.index("{", match.end())
        depth, end = 0, start
        for end in range(start, len(code)):
            depth += {"{": 1, "}": -1}.get(code[end], 0)
            if depth == 0:
                break
        bodies[match.group(1)] = code[match.end():end]
    return bodies


def used_names(source: str, entry: str) -> set[str]:
    """Identifiers reachable from ``entry``: its body and the functions it calls (words in
    comments bind nothing).

    Raises:
        ReflectionError: ``source`` defines no function ``entry``.
    """
    bodies = _function_bodies(strip_comments(source))
    if entry not in bodies:
        raise ReflectionError(f"entry point {entry!r} not found; functions are {sorted(bodies)}")
    seen, todo, names = set(), [entry], set()
    while todo:
        function = todo.pop()
        if function in seen:
            continue
        seen.add(function)
        names |= set(re.findall(r"\b\w+\b", bodies[function]))
        calls = set(re.findall(r"\b(\w+)\s*\(", bodies[function]))  # not same-named locals
        todo.extend(calls & bodies.keys())
    return names


def entry_bindings(source: str, entry: str,
                   constants: dict[str, int] | None = None) -> list[Binding]:
    """The bindings ``entry`` uses (what ``layout="auto"`` keeps), in source order."""
    used = used_names(source, entry)
    return [binding for binding in bindings(source, constants) if binding.name in used]


def uniform_of(used: list[Binding], structs: dict[str, list[tuple[str, str]]]
               ) -> tuple[Binding | None, list[tuple[str, str]]]:
    """The one uniform among an entry's bindings and its fields as (name, type): a struct's
    fields, or the variable itself for ``var<uniform> n: u32``; (None, []) without one.

    Raises:
        ReflectionError: the entry uses several uniforms (fields are bound by name, from one).
    """
    uniforms = [binding for binding in used if binding.kind == "uniform"]
    if len(uniforms) > 1:
        raise ReflectionError(f"the entry uses {len(uniforms)} uniforms "
                              f"{[u.name for u in uniforms]}; put every field in one struct "
                              "(fields are bound by name)")
    if not uniforms:
        return None, []
    uniform = uniforms[0]
    return uniform, list(structs.get(uniform.type, [(uniform.name, uniform.type)]))
