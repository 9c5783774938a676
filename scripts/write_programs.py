"""Give every bundled free-form item that asks for a number a `program` field: a short Python program that
computes the answer from the quantities in the question (and standard constants) and prints it with its
unit. The programs are written from the recomputations in tests/data/data_checks/g1-g4.py (the constants
and helpers they use are inlined, so each program stands alone), then checked by
tests/data/test_bundled_programs.py, which runs each one in the sandbox.

    python scripts/write_programs.py            # add programs where an item has none
    python scripts/write_programs.py --force    # rewrite all of them
    python scripts/build_dataset.py             # then rebuild the bundled splits
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKS_DIR = ROOT / "tests" / "data" / "data_checks"
SRC = ROOT / "data" / "src" / "freeform"
sys.path.insert(0, str(ROOT / "src"))

# Items whose recomputed number is a side fact of a conceptual or yes/no answer, not what the question asks
# for ("Is the nucleus held together by gravity?" -> a ratio of forces): no program, no tool-format target.
NOT_ASKED = frozenset(
    "anp-002 anp-010 anp-018 anp-028 anp-030 ast-001 ast-019 ast-030 ast-040 ci-013 cm-021 cmat-011 cmat-017 "
    "em-038 fl-014 gr-019 grav-001 grav-009 grav-028 mm-011 mm-014 sm-033 sm-035 th-010 th-022 wa-007".split()
)


def _definitions(tree: ast.Module, source: str, constants: dict[str, str]) -> dict[str, str]:
    """name -> source of its definition: constants imported from constants.py, module-level assignments
    and helper functions of a check file."""
    defs: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "constants":
            for alias in node.names:
                defs[alias.asname or alias.name] = re.sub(
                    rf"^{alias.name}\b", alias.asname or alias.name, constants[alias.name]
                )
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id != "CHECKS":
            defs[node.targets[0].id] = _with_comment(source, node)
        elif isinstance(node, ast.FunctionDef):
            defs[node.name] = ast.get_source_segment(source, node)
    return defs


def _with_comment(source: str, node: ast.AST) -> str:
    """The statement's whole line, keeping a trailing '# unit' comment."""
    return source.splitlines()[node.lineno - 1].strip()


def _constants() -> dict[str, str]:
    source = (CHECKS_DIR / "constants.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    return {n.targets[0].id: _with_comment(source, n) for n in tree.body if isinstance(n, ast.Assign)}


def _names(code: str) -> list[str]:
    return list(dict.fromkeys(n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)))


def _needed(code: str, defs: dict[str, str], order: list[str], visiting: frozenset = frozenset()) -> list[str]:
    """Definitions `code` depends on, dependencies first (a definition's own name is not a dependency)."""
    for name in _names(code):
        if name in defs and name not in order and name not in visiting:
            _needed(defs[name], defs, order, visiting | {name})
            order.append(name)
    return order


def _public(text: str) -> str:
    """Helpers are private in the check files; a program may not use names starting with '_'."""
    return re.sub(r"\b_([A-Za-z]\w*)", r"\1", text)


def reference_unit(answer: str, written: str) -> str:
    """The unit right after the checked number in the answer, as physlora's physics check reads it."""
    from physlora.grading.normalize import normalize
    from physlora.grading.quantities import parse_value, read_unit

    units = []
    for m in re.finditer(rf"(?<![\d./]){re.escape(written)}(?![\d])", answer):  # not the 20 of '1/20'
        text = normalize(answer[m.start() :])  # from the number on: '89%' becomes '89 percent'
        number = parse_value(text)  # (value, end, ...): the number with its 'x 10^n'
        units.append(read_unit(text[number[1] :])[0] if number else "")
    unit = next((u for u in units if u), "")
    return "%" if unit == "percent" else unit


# 'NAME = formula' in an answer, up to the next '=', clause or sentence end
_EQUATION = re.compile(
    r"(?P<lhs>[A-Za-z]\w*(?:\s*\([^()]*\))?(?:\s*/\s*[A-Za-z]\w*)?)\s*=\s*(?P<rhs>[^=,;:]+?)"
    r"(?=\s*(?:=|,|;|\.\s|\.$|\bwhich\b|\bso\b|\babout\b|\bgives\b|\bfor\b|\bwith\b|\bwhere\b|\band\b|$))"
)
_MATH_WORDS = frozenset(
    "sqrt sin cos tan exp log ln theta lambda gamma omega alpha beta delta sigma kappa epsilon hbar arcsin arctan "
    "asin atan eta rho mu nu phi psi tau Delta".split()
)


def formula_of(answer: str) -> tuple[str, str] | None:
    """The first symbolic relation an answer states ('KE = (1/2) m v^2'), as (left side, right side): the
    program's comment, so the model learns to name the physics before it types numbers. Relations full of
    the question's numbers, or with words in them, are not formulas."""
    for m in _EQUATION.finditer(answer):
        rhs = m.group("rhs").strip()
        if re.search(r"\d\.\d|\d[eE][-+]?\d|\d{3,}", rhs) or len(rhs) > 60 or len(re.findall(r"[A-Za-z]", rhs)) < 2:
            continue
        if any(w not in _MATH_WORDS and w.lower() not in _MATH_WORDS for w in re.findall(r"[A-Za-z]{4,}", rhs)):
            continue
        return m.group("lhs").strip(), rhs
    return None


def _result_name(lhs: str | None, taken: set[str]) -> str:
    """The formula's left side as the result's variable ('KE'), when it is a plain, free Python name."""
    import keyword

    if lhs and lhs.isidentifier() and not keyword.iskeyword(lhs) and not lhs.startswith("_") and lhs not in taken \
            and lhs not in ("print", "math", "answer"):
        return lhs
    return "answer"


def program_for(expr: str, defs: dict[str, str], unit: str, formula: tuple[str, str] | None = None) -> str:
    lines = []
    needed = _needed(expr, defs, [])
    if "math" in _names(expr) or any("math." in defs[n] for n in needed):
        lines += ["import math", ""]
    constants = [defs[n] for n in needed if not defs[n].startswith("def ")]
    functions = [defs[n] for n in needed if defs[n].startswith("def ")]
    lines += constants + ([""] if constants else [])
    for f in functions:
        lines += [f, ""]
    name = _result_name(formula[0] if formula else None, set(needed) | set(_names(expr)))
    if formula:
        lines.append(f"# {formula[0]} = {formula[1]}")
    lines += [f"{name} = {expr}", f'print(f"{{{name}:.3g}}{" " + unit if unit else ""}")']
    return _public("\n".join(lines)) + "\n"


def programs() -> dict[str, str]:
    """id -> program for every free-form item with a numeric check that asks for that number."""
    items = {json.loads(line)["id"]: json.loads(line) for p in SRC.glob("*.jsonl") for line in p.read_text(encoding="utf-8").splitlines()}
    constants, out = _constants(), {}
    for path in sorted(CHECKS_DIR.glob("g*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        defs = _definitions(tree, source, constants)
        checks = next(n.value for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "CHECKS")
        for key, value in zip(checks.keys, checks.values):
            item_id = key.value
            if item_id not in items or item_id in NOT_ASKED:
                continue  # multiple-choice items and conceptual ones
            expr, written = ast.get_source_segment(source, value.elts[0]), value.elts[1].value
            answer = items[item_id]["answer"]
            out[item_id] = program_for(expr, defs, reference_unit(answer, written), formula_of(answer))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rewrite programs that are already there")
    args = parser.parse_args()
    written = programs()
    changed = 0
    for path in sorted(SRC.glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for row in rows:
            if row["id"] in written and (args.force or "program" not in row):
                changed += row.get("program") != written[row["id"]]
                row["program"] = written[row["id"]]
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(written)} items have programs; {changed} written or changed")


if __name__ == "__main__":
    main()
