"""How each benchmark's native rows become physlora records, and how its questions are asked.

Each reader takes one row of the set in its published shape (the hub's columns) and returns a Record, or
None for a row the physics subset leaves out (another subject, a question that needs a picture). The
prompt texts are the lm-evaluation-harness templates where a published harness number exists (MMLU,
GPQA: their exact strings, so the numbers are comparable); the free-form sets get physlora's own
final-answer instruction (the sets' papers ask for a boxed or stated final answer; the wording here is ours).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from typing import Any

from physlora.data.records import LETTERS, Record, canonical_answer_type

__all__ = ["COT_INSTRUCTION", "FINAL_ANSWER_INSTRUCTION", "format_mc_question", "reader"]

# physlora's wording (not copied from any benchmark): what a free-form benchmark question ends with
FINAL_ANSWER_INSTRUCTION = "Give only the final answer, written as \\boxed{...}."
COT_INSTRUCTION = "Work through the problem step by step, then state the final answer as \\boxed{...}."
MMLU_TEMPLATE = "{question}\nA. {c0}\nB. {c1}\nC. {c2}\nD. {c3}\nAnswer:"  # lm-eval mmlu doc_to_text
MMLU_DESCRIPTION = "The following are multiple choice questions (with answers) about {subject}.\n\n"
GPQA_ZEROSHOT_TEMPLATE = "What is the correct answer to this question:{question}\nChoices:\n(A) {c0}\n(B) {c1}\n(C) {c2}\n(D) {c3}\nAnswer:"
GPQA_NSHOT_TEMPLATE = "Question: {question}\nChoices:\n(A) {c0}\n(B) {c1}\n(C) {c2}\n(D) {c3}\nAnswer:"
GPQA_NSHOT_DESCRIPTION = ("Here are some example questions from experts. Answer the final question yourself, "
                          "following the format of the previous questions exactly.\n")  # fmt: skip


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    return str(value).strip()


def _missing(row: dict, *columns: str) -> None:
    absent = [c for c in columns if c not in row]
    if absent:
        raise ValueError(f"missing column: no {', '.join(repr(c) for c in absent)} field (columns: {', '.join(list(row)[:12])})")


def format_mc_question(template: str, question: str, choices: list[str]) -> str:
    return template.format(question=question, **{f"c{i}": c for i, c in enumerate(choices)})


# ---------------------------------------------------------------- multiple choice


def mmlu(row: dict, n: int, config: str) -> Record | None:
    """cais/mmlu: question, subject, choices (4), answer (int 0-3)."""
    _missing(row, "question", "choices", "answer")
    choices = [_text(c) for c in (row["choices"].tolist() if hasattr(row["choices"], "tolist") else row["choices"])]
    if len(choices) != 4:
        raise ValueError(f"bad choices: MMLU rows have 4 options, this one has {len(choices)}")
    answer = int(row["answer"]) if not isinstance(row["answer"], str) or row["answer"].isdigit() else LETTERS.index(row["answer"].strip().upper())
    subject = _text(row.get("subject")) or config
    return Record(
        id=f"{subject}-{n}", question=str(row["question"]).strip(), answer=choices[answer], choices=choices,
        topic=subject, extra={"letters": list(LETTERS[:4]), "target_delimiter": " ", "template": MMLU_TEMPLATE,
                              "description": MMLU_DESCRIPTION.format(subject=subject.replace("_", " "))},
    )  # fmt: skip


def _gpqa_clean(text: Any) -> str:
    """lm-evaluation-harness's gpqa preprocessing, so the options read the same as in its prompts."""
    if text is None:
        return " "
    return str(text).strip().replace(" [title]", ". ").replace("  ", " ")


def gpqa(row: dict, n: int, config: str) -> Record | None:  # noqa: ARG001
    """Idavidrein/gpqa: Question, Correct Answer, Incorrect Answer 1-3, High-level domain, Subdomain, Record ID.
    The options are shuffled with a seed taken from the question (lm-eval shuffles with its global RNG,
    so its order differs item by item; the template and scoring are the same)."""
    _missing(row, "Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")
    if _text(row.get("High-level domain")) not in ("", "Physics"):
        return None
    correct = _gpqa_clean(row["Correct Answer"])
    choices = [_gpqa_clean(row[f"Incorrect Answer {i}"]) for i in (1, 2, 3)] + [correct]
    rid = _text(row.get("Record ID")) or f"gpqa-{n}"
    random.Random(int(hashlib.sha256(rid.encode()).hexdigest()[:12], 16)).shuffle(choices)
    if len(set(choices)) != 4:
        raise ValueError("bad choices: options repeat")
    return Record(
        id=rid, question=str(row["Question"]), answer=correct, choices=choices, topic=_text(row.get("Subdomain")) or None,
        extra={"letters": [f"({c})" for c in "ABCD"], "target_delimiter": " ", "template": GPQA_ZEROSHOT_TEMPLATE,
               "shot_template": GPQA_NSHOT_TEMPLATE, "shot_description": GPQA_NSHOT_DESCRIPTION},
    )  # fmt: skip


# ---------------------------------------------------------------- free form

SCIBENCH_PHYSICS = ("fund", "thermo", "class")  # Fundamentals of Physics, Statistical Thermodynamics, Classical Dynamics


def _latex_unit(unit: str) -> str:
    return unit.replace("$", "").strip()


def scibench(row: dict, n: int, config: str) -> Record | None:  # noqa: ARG001
    """xw27/scibench: problem_text, answer_number, unit, source, problemid (answer_latex, solution). The unit is
    stated in the question, as in SciBench's protocol; a unit such as '10^5 m/s' scales the number."""
    _missing(row, "problem_text", "answer_number")
    source = _text(row.get("source"))
    if source and source not in SCIBENCH_PHYSICS:
        return None
    unit = _latex_unit(_text(row.get("unit")))
    number = _text(row["answer_number"])
    reference = f"{number} \\times {unit}" if re.match(r"10\^", unit) else f"{number} {unit}".strip()
    question = _text(row["problem_text"])
    if unit:
        question += f" Give the answer in ${unit}$."
    return Record(id=f"{source or 'scibench'}-{_text(row.get('problemid')) or n}", question=question, answer=reference,
                  topic=source or None, answer_type="numeric", tolerance=0.05)  # fmt: skip


# subfields of the 'Physics' field in the original theoremqa_test.json
THEOREMQA_PHYSICS_SUBFIELDS = frozenset((
    "Relativity", "Condensed matter physics", "Optics", "Wave", "Kinetics", "Electromagnetism", "Thermodynamics",
    "Quantum", "Atomic physics", "Particle", "Fluid mechanics", "Classical mechanics", "Nuclear physics",
    "Statistical physics", "Electronics", "Physics",
))  # fmt: skip


def theoremqa(row: dict, n: int, config: str) -> Record | None:  # noqa: ARG001
    """TIGER-Lab/TheoremQA: Question, Answer, Answer_type (integer/float/bool/option/list of ...), Picture;
    the original JSON also has field (Physics, Math, EECS, Finance), subfield, id. Questions that need their
    picture are left out (text-only models cannot see it)."""
    _missing(row, "Question", "Answer")
    if "field" in row:
        if _text(row["field"]) != "Physics":
            return None
    elif "subfield" in row:
        if _text(row["subfield"]) not in THEOREMQA_PHYSICS_SUBFIELDS:
            return None
    else:
        raise ValueError("missing column: no 'field' or 'subfield' to pick the physics questions; use the "
                         "original theoremqa_test.json (github.com/wenhuchen/TheoremQA): --data theoremqa:physics=FILE")
    picture = row.get("Picture")
    if picture not in (None, "", "NONE") and not (isinstance(picture, float) and math.isnan(picture)):
        return None
    answer = row["Answer"]
    if isinstance(answer, bool):
        reference = "True" if answer else "False"
    elif isinstance(answer, (list, tuple)) or hasattr(answer, "tolist"):
        reference = json.dumps(answer.tolist() if hasattr(answer, "tolist") else list(answer))
    else:
        reference = _text(answer)
    kind = canonical_answer_type(_text(row.get("Answer_type")) or None)
    return Record(id=_text(row.get("id")) or f"theoremqa-{n}", question=_text(row["Question"]), answer=reference,
                  topic=_text(row.get("subfield")) or None, answer_type=kind)  # fmt: skip


UGPHYSICS_SUBJECTS = ("AtomicPhysics", "ClassicalElectromagnetism", "ClassicalMechanics", "Electrodynamics",
                      "GeometricalOptics", "QuantumMechanics", "Relativity", "SemiconductorPhysics",
                      "Solid-StatePhysics", "StatisticalMechanics", "TheoreticalMechanics", "Thermodynamics",
                      "WaveOptics")  # fmt: skip


def ugphysics(row: dict, n: int, config: str) -> Record | None:
    """UGPhysics/ugphysics (one config per subject, split 'en'): index, problem, answers, unit, answer_type
    (NV numeric, EX expression, EQ equation, IN interval, TF true/false, MC choice; 'NV,NV' for several),
    subject, topic, level, is_multiple_answer."""
    _missing(row, "problem", "answers")
    kind = canonical_answer_type(_text(row.get("answer_type")) or None)
    answers, unit = _text(row["answers"]), _text(row.get("unit"))
    reference = f"{answers} {_latex_unit(unit)}".strip() if unit and kind == "numeric" else answers
    if kind == "tuple" and not reference.startswith(("(", "[")):
        reference = f"({reference})"
    subject = _text(row.get("subject")) or config
    return Record(id=f"{subject}-{_text(row.get('index')) or n}", question=_text(row["problem"]), answer=reference,
                  topic=subject or None, answer_type=kind)  # fmt: skip


def olympiadbench(row: dict, n: int, config: str) -> Record | None:  # noqa: ARG001
    """Hothan/OlympiadBench (config OE_TO_physics_en_COMP, text-only open-ended physics): id, question, context,
    final_answer (list), unit, answer_type (Numerical/Expression/Equation/Interval/Tuple), is_multiple_answer,
    error (the allowed error of a numerical answer, used as its relative tolerance)."""
    _missing(row, "question", "final_answer")
    if any(row.get(f"image_{i}") for i in range(1, 6)):
        return None  # needs a picture
    finals = row["final_answer"]
    finals = finals.tolist() if hasattr(finals, "tolist") else finals
    finals = [_text(f) for f in (finals if isinstance(finals, (list, tuple)) else [finals])]
    unit = _latex_unit(_text(row.get("unit")))
    kind = canonical_answer_type(_text(row.get("answer_type")).split(",")[0] or None)
    if len(finals) > 1 or row.get("is_multiple_answer"):
        kind = "tuple" if kind != "interval" else kind
        reference = "(" + ", ".join(f"{f} {unit}".strip() for f in finals) + ")"
    else:
        reference = f"{finals[0]} {unit}".strip() if kind == "numeric" else finals[0]
    tolerance = None
    try:
        error = float(_text(row.get("error")).split(",")[0]) if _text(row.get("error")) else None
        tolerance = error if error is not None and 0 < error < 1 else None
    except ValueError:
        pass
    context = _text(row.get("context"))
    question = f"{context}\n\n{_text(row['question'])}" if context else _text(row["question"])
    return Record(id=_text(row.get("id")) or f"olympiad-{n}", question=question, answer=reference,
                  topic=_text(row.get("subfield")) or None, answer_type=kind, tolerance=tolerance)  # fmt: skip


def phybench(row: dict, n: int, config: str) -> Record | None:  # noqa: ARG001
    """Eureka-Lab/PHYBench (PHYBench-fullques_v1.json): id, tag (MECHANICS, ELECTRICITY, ...), content,
    solution, answer (a LaTeX expression). Graded by symbolic equivalence (PHYBench's accuracy; its EED
    partial-credit score is not computed here)."""
    _missing(row, "content", "answer")
    answer = _text(row["answer"])
    if not answer:
        return None  # the question-only release has no answers
    return Record(id=f"phybench-{_text(row.get('id')) or n}", question=_text(row["content"]), answer=answer,
                  topic=_text(row.get("tag")).lower() or None, answer_type="formula")  # fmt: skip


READERS = {"mmlu": mmlu, "gpqa": gpqa, "scibench": scibench, "theoremqa": theoremqa, "ugphysics": ugphysics,
           "olympiadbench": olympiadbench, "phybench": phybench}  # fmt: skip


def reader(name: str):
    return READERS[name]
