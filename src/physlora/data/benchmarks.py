"""The physics benchmarks the field reports, by name: `--data mmlu:college_physics`, `--data gpqa:physics@5shot`.

    NAME[@VARIANT][=PATH]

NAME is a registry entry (`physlora eval --list-benchmarks`). VARIANT picks the prompt format: `0shot`,
`<k>shot` (k solved examples from the set's few-shot split: MMLU's dev split; sets without one take the
first k other items of the evaluated split) and, for free-form sets, `cot` (work step by step, then a
boxed final answer) or `<k>shot-cot`; each entry has a default. `=PATH` reads the set from a local file
(its rows in the set's native shape: the hub's column names) or from a folder holding one file per split
(`test.jsonl`, `dev.jsonl`, ...) instead of the hub; that is how tests and offline users run them.

Multiple-choice entries (MMLU, GPQA) render lm-evaluation-harness's prompt strings and score its way
(log-likelihood of ' A'..' D' or ' (A)'..' (D)' after the prompt; acc and acc_norm): with
`prompt.format=plain` their acc is comparable with lm-eval's published numbers. Free-form entries are
generated and graded by the physics check with the set's answer type and tolerance.
"""

from __future__ import annotations

import os

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from physlora.data import benchmark_sets as sets
from physlora.data.readers import FILE_SUFFIXES, read_file_rows
from physlora.data.records import LETTERS, LoadResult, Record, Skipped
from physlora.errors import PhysloraError

__all__ = ["BENCHMARKS", "Benchmark", "benchmark_table", "is_benchmark", "load_benchmark", "parse_spec"]


@dataclass(frozen=True)
class Benchmark:
    name: str
    hub_id: str
    configs: tuple[str, ...]  # hub configs to load (several: one per subject)
    split: str  # the evaluated split
    fewshot_split: str | None  # where k-shot examples come from (None: other items of `split`)
    kind: Literal["mc", "freeform"]
    reader: str  # benchmark_sets function turning a native row into a Record
    answer_type: str  # what the answers are (records may refine it per row)
    default_variant: str
    grading: str
    comparable: str  # which published numbers a physlora number is comparable with
    data_files: str | None = None
    columns: tuple[str, ...] = ()  # the native columns the reader needs (for --list-benchmarks and errors)


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in [
    *(Benchmark(
        name=f"mmlu:{subject}", hub_id="cais/mmlu", configs=(subject,), split="test", fewshot_split="dev",
        kind="mc", reader="mmlu", answer_type="mc", default_variant="0shot",
        grading="log-likelihood of ' A'..' D' after lm-eval's MMLU prompt (acc, acc_norm)",
        comparable="lm-evaluation-harness mmlu_" + subject + " acc (0-shot; @5shot: the 5-shot numbers of the MMLU paper)",
        columns=("question", "subject", "choices", "answer"),
    ) for subject in ("college_physics", "high_school_physics", "conceptual_physics")),
    Benchmark(
        name="gpqa:physics", hub_id="Idavidrein/gpqa", configs=("gpqa_main",), split="train", fewshot_split=None,
        kind="mc", reader="gpqa", answer_type="mc", default_variant="0shot",
        grading="log-likelihood of ' (A)'..' (D)' after lm-eval's GPQA prompt (acc, acc_norm)",
        comparable="lm-eval gpqa_main_zeroshot acc, physics rows only (High-level domain = Physics); option order "
                   "seeded per question and k-shot examples the first other items (lm-eval draws both at random), "
                   "so comparable in expectation, not item by item",
        columns=("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3",
                 "High-level domain", "Record ID"),
    ),
    Benchmark(
        name="scibench", hub_id="xw27/scibench", configs=("",), split="train", fewshot_split=None, kind="freeform",
        reader="scibench", answer_type="numeric", default_variant="cot",
        grading="physics check: the number (unit stated in the question) within 5%, as SciBench grades; units converted",
        comparable="SciBench zero-shot CoT accuracy on its physics textbooks (fund, thermo, class)",
        columns=("problem_text", "answer_number", "unit", "source", "problemid"),
    ),
    Benchmark(
        name="theoremqa:physics", hub_id="TIGER-Lab/TheoremQA", configs=("",), split="test", fewshot_split=None,
        kind="freeform", reader="theoremqa", answer_type="numeric", default_variant="cot",
        grading="physics check with TheoremQA's Answer_type (float/integer -> numeric 5%, bool -> yes/no, "
                "option -> letter, list -> tuple)",
        comparable="TheoremQA CoT accuracy, physics field, text-only questions",
        columns=("Question", "Answer", "Answer_type", "Picture", "field"),
    ),
    Benchmark(
        name="ugphysics", hub_id="UGPhysics/ugphysics", configs=sets.UGPHYSICS_SUBJECTS, split="en",
        fewshot_split=None, kind="freeform", reader="ugphysics", answer_type="numeric", default_variant="cot",
        grading="physics check with UGPhysics' answer_type (NV numeric, EX formula, EQ equation, IN interval, "
                "TF yes/no, MC letter; several answers in order)",
        comparable="UGPhysics English accuracy (its rule-based judge; no LLM judge here)",
        columns=("index", "problem", "answers", "unit", "answer_type", "subject"),
    ),
    Benchmark(
        name="olympiadbench:physics", hub_id="Hothan/OlympiadBench", configs=("OE_TO_physics_en_COMP",),
        split="train", fewshot_split=None, kind="freeform", reader="olympiadbench", answer_type="numeric",
        default_variant="cot",
        grading="physics check with OlympiadBench's answer_type and error (Numerical, Expression, Equation, "
                "Interval, Tuple); units converted instead of stripped",
        comparable="OlympiadBench text-only English physics (OE_TO_physics_en_COMP) accuracy",
        columns=("id", "question", "context", "final_answer", "unit", "answer_type", "is_multiple_answer", "error"),
    ),
    Benchmark(
        name="phybench", hub_id="Eureka-Lab/PHYBench", configs=("",), split="train", fewshot_split=None,
        kind="freeform", reader="phybench", answer_type="formula", default_variant="cot",
        grading="physics check: symbolic equivalence of the final expression (PHYBench accuracy; no EED score)",
        comparable="PHYBench accuracy (not its EED score)", data_files="PHYBench-fullques_v1.json",
        columns=("id", "tag", "content", "solution", "answer"),
    ),
]}  # fmt: skip

_VARIANT = re.compile(r"^(?:(\d+)shot)?(?:-?(cot))?$")


@dataclass(frozen=True)
class Spec:
    benchmark: Benchmark
    shots: int
    cot: bool
    path: Path | None

    @property
    def label(self) -> str:
        variant = f"{self.shots}shot" + ("-cot" if self.cot else "")
        return f"{self.benchmark.name}@{variant}"


def _split_spec(source: str) -> tuple[str, str | None, str | None]:
    name, _, path = source.partition("=")
    name, _, variant = name.partition("@")
    return name.strip().lower(), (variant.strip().lower() or None), (path.strip() or None)


def is_benchmark(source: str | os.PathLike) -> bool:
    """Whether `source` names a registry entry (with or without @variant / =path). A path object is a file,
    never a benchmark name (load_records is called with both)."""
    return isinstance(source, str) and _split_spec(source)[0] in BENCHMARKS


def parse_spec(source: str) -> Spec:
    name, variant, path = _split_spec(source)
    if name not in BENCHMARKS:
        raise PhysloraError(f"unknown benchmark {name!r} (known: {', '.join(BENCHMARKS)}; list them with "
                            "physlora eval --list-benchmarks)")
    bench = BENCHMARKS[name]
    m = _VARIANT.match(variant or bench.default_variant)
    if not m or (m.group(1) is None and m.group(2) is None):
        raise PhysloraError(f"{name}: unknown prompt variant {variant!r} (use 0shot, <k>shot, cot or <k>shot-cot)")
    shots, cot = int(m.group(1) or 0), bool(m.group(2))
    if cot and bench.kind == "mc":
        raise PhysloraError(f"{name} is scored by log-likelihood; chain-of-thought applies to free-form sets only")
    if shots > 25:
        raise PhysloraError(f"{name}: {shots} shots is more than any prompt needs (at most 25)")
    return Spec(bench, shots, cot, Path(path).expanduser() if path else None)


# ---------------------------------------------------------------- rows


def _local_rows(spec: Spec, split: str) -> Iterable[tuple[str, Any]]:
    path = spec.path
    assert path is not None
    if path.is_dir():
        found = [p for p in sorted(path.iterdir()) if p.stem == split and p.suffix.lower() in FILE_SUFFIXES]
        if not found:
            have = sorted({p.stem for p in path.iterdir() if p.suffix.lower() in FILE_SUFFIXES})
            raise PhysloraError(f"{path} has no '{split}' file for {spec.benchmark.name} (has: {', '.join(have) or 'none'}); "
                                f"add {split}.jsonl in the set's native shape")  # fmt: skip
        return read_file_rows(found[0])
    if not path.is_file():
        raise PhysloraError(f"benchmark file not found: {path}")
    if split != _eval_split(spec, None):
        raise PhysloraError(f"{spec.label} needs the '{split}' split too: pass a folder holding "
                            f"{_eval_split(spec, None)}.jsonl and {split}.jsonl instead of one file")
    return read_file_rows(path)


def _hub_rows(bench: Benchmark, split: str) -> Iterable[tuple[str, Any]]:
    import datasets

    for config in bench.configs:
        try:
            kwargs = {"data_files": bench.data_files} if bench.data_files else {}
            data = datasets.load_dataset(bench.hub_id, config or None, split=split, **kwargs)
        except Exception as e:  # hub errors come in many types; all mean the same to the user
            msg = (str(e).splitlines() or [type(e).__name__])[0]
            raise PhysloraError(
                f"cannot load {bench.name} from the hub ({bench.hub_id}{'/' + config if config else ''}, split {split}): "
                f"offline, gated (GPQA needs an accepted licence and HF_TOKEN) or renamed? Pass a local copy with "
                f"--data {bench.name}=PATH [{msg[:160]}]"
            ) from None
        for i, row in enumerate(data):
            yield f"{bench.hub_id}{'/' + config if config else ''}[{split}] row {i}", (config, row)


def _records(spec: Spec, split: str, skip_invalid: bool) -> tuple[list[Record], list[Skipped]]:
    read = sets.reader(spec.benchmark.reader)
    if spec.path is not None:
        rows: Iterable[tuple[str, Any]] = ((w, (spec.benchmark.configs[0], r)) for w, r in _local_rows(spec, split))
    else:
        rows = _hub_rows(spec.benchmark, split)
    records, skipped, seen = [], [], set()
    for n, (where, item) in enumerate(rows):
        try:
            if isinstance(item[1], Exception):
                raise item[1]
            config, row = item
            if not isinstance(row, dict):
                raise ValueError(f"wrong type: expected an object, got {type(row).__name__}")
            rec = read(row, n, config)
            if rec is None:
                continue  # outside the physics subset
            if rec.id in seen:
                rec = replace(rec, id=f"{rec.id}-{n}")
            seen.add(rec.id)
            records.append(rec)
        except ValueError as e:
            if not skip_invalid:
                raise PhysloraError(f"{where}: {e} (fix the row, or pass --skip-invalid to drop such rows)") from None
            skipped.append(Skipped(where, str(e)))
    return records, skipped


def _eval_split(spec: Spec, split: str | None) -> str:
    return split or spec.benchmark.split


# ---------------------------------------------------------------- prompts


def _mc_text(rec: Record, template: str | None = None) -> str:
    return sets.format_mc_question(template or rec.extra["template"], rec.question, rec.choices or [])


def _shot_text(rec: Record, kind: str, template: str | None) -> str:
    """One solved example, as lm-eval writes it: prompt + target delimiter + answer."""
    if kind == "mc":
        letters = rec.extra.get("letters") or list(LETTERS)
        return f"{_mc_text(rec, template)} {letters[rec.answer_index]}"
    return f"Question: {rec.question}\nAnswer: \\boxed{{{rec.answer}}}"


def render(spec: Spec, rec: Record, shots: list[Record]) -> Record:
    """`rec` with its question rendered in the benchmark's prompt format (description, shots, template,
    final-answer instruction). The record keeps its choices; MC records carry the option letters to score."""
    bench = spec.benchmark
    if bench.kind == "mc":
        template = rec.extra.get("shot_template") if spec.shots and rec.extra.get("shot_template") else None
        description = rec.extra.get("shot_description" if spec.shots and rec.extra.get("shot_description") else "description", "")
        examples = "".join(_shot_text(s, "mc", template) + "\n\n" for s in shots)
        text = description + examples + _mc_text(rec, template)
        letters = [l.strip() for l in rec.extra["letters"]]
        return replace(rec, question=text, extra=rec.extra | {"mc_targets": letters, "rendered": True, "raw_question": rec.question})
    examples = "".join(_shot_text(s, "freeform", None) + "\n\n" for s in shots)
    instruction = sets.COT_INSTRUCTION if spec.cot else sets.FINAL_ANSWER_INSTRUCTION
    text = f"{examples}Question: {rec.question}\n\n{instruction}" if shots else f"{rec.question}\n\n{instruction}"
    return replace(rec, question=text, extra=rec.extra | {"rendered": True, "raw_question": rec.question})


def _shots_for(spec: Spec, rec: Record, pool: list[Record], same_split: bool) -> list[Record]:
    """The first k examples of the few-shot split (lm-eval's first_n for MMLU's dev split), or the first k
    other items when the set has no such split."""
    others = [p for p in pool if p is not rec] if same_split else pool
    return others[: spec.shots]


def load_benchmark(source: str, split: str | None = None, *, skip_invalid: bool = False) -> LoadResult:
    """The records of a benchmark spec (see the module docstring), questions rendered in its prompt format."""
    spec = parse_spec(source)
    eval_split = _eval_split(spec, split)
    records, skipped = _records(spec, eval_split, skip_invalid)
    if not records:
        why = f"; {len(skipped)} rows were invalid" if skipped else " (no row is in the physics subset)"
        raise PhysloraError(f"{spec.label}: no usable records in split '{eval_split}'{why}")
    pool, same_split = records, True
    if spec.shots and spec.benchmark.fewshot_split and spec.benchmark.fewshot_split != eval_split:
        same_split = False
        pool, _ = _records(spec, spec.benchmark.fewshot_split, skip_invalid=True)
        if len(pool) < spec.shots:
            raise PhysloraError(f"{spec.label}: the '{spec.benchmark.fewshot_split}' split has {len(pool)} usable "
                                f"examples, fewer than {spec.shots} shots")  # fmt: skip
    rendered = [render(spec, r, _shots_for(spec, r, pool, same_split)) for r in records]
    where = str(spec.path) if spec.path else spec.benchmark.hub_id
    return LoadResult(rendered, skipped, f"{spec.label}[{eval_split}] ({where})")


def benchmark_table() -> str:
    """The registry as a table, for `physlora eval --list-benchmarks`."""
    lines = ["name | hub id | split | kind | answers | default prompt | grading | comparable with", "---|---|---|---|---|---|---|---"]
    for b in BENCHMARKS.values():
        lines.append(" | ".join([b.name, b.hub_id + (f" ({len(b.configs)} configs)" if len(b.configs) > 1 else ""),
                                 b.split, b.kind, b.answer_type, b.default_variant, b.grading, b.comparable]))  # fmt: skip
    lines += ["", "Use --data NAME[@VARIANT][=PATH]: VARIANT is 0shot, <k>shot, cot or <k>shot-cot (free-form sets);",
              "PATH is a local file or folder (test.jsonl, dev.jsonl, ...) of rows in the set's native columns."]
    return "\n".join(lines)
