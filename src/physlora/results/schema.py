"""The typed result files of physlora: one pydantic schema per file, written by the evaluation and the
recipes, read by report, serve, compare and the tests. Extra keys are kept (forward compatible), and
NaN is allowed where a metric did not apply.

    metrics.json of `physlora run`   -> RunMetrics
    metrics.json of `physlora eval`  -> EvalMetrics
    train_summary.json               -> TrainSummary
    eval_<label>_<i>.json (cache)    -> EvalOutput
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from physlora.errors import PhysloraError


class _Result(BaseModel):
    model_config = ConfigDict(extra="allow", ser_json_inf_nan="constants")


class MetricInfo(_Result):
    name: str
    label: str
    higher_is_better: bool = True
    kind: Literal["freeform", "mc"] = "freeform"
    unit: str = ""


class Interval(_Result):
    """An aggregate: mean with a 95% bootstrap CI over n examples (NaN where nothing applied)."""

    mean: float
    ci95: tuple[float, float]
    n: int
    perplexity: float | None = None


class Comparison(_Result):
    """Paired tuned-minus-base difference on the same examples."""

    diff: float
    ci95: tuple[float, float]
    p_value: float
    n: int


class ToolSummary(_Result):
    """How a model used the program tool on one set (tools mode)."""

    n: int
    tool_call_rate: float  # share of questions answered with at least one program
    program_success_rate: float  # share of questions with a program that ran and printed a number
    mean_rounds: float  # programs run per question
    statuses: dict[str, int] = Field(default_factory=dict)  # sandbox status of every program run
    stops: dict[str, int] = Field(default_factory=dict)  # answered | no_tool_call | rounds_exhausted
    sandbox_seconds: float = 0.0  # in all
    generation_seconds: float = 0.0  # in all


class EvalOutput(_Result):
    """One model on one set: per-example rows, aggregates, aggregates per topic."""

    kind: Literal["freeform", "mc"]
    rows: list[dict[str, Any]]
    metrics: dict[str, Interval] = Field(default_factory=dict)
    by_topic: dict[str, dict[str, Interval]] = Field(default_factory=dict)
    metric_info: dict[str, MetricInfo] = Field(default_factory=dict)
    mode: Literal["plain", "tools"] = "plain"
    tools: ToolSummary | None = None

    @property
    def metric_names(self) -> list[str]:
        return list(self.metrics)


class EvalSet(_Result):
    """A block of `physlora eval`'s metrics.json."""

    kind: Literal["freeform", "mc"]
    n: int
    source: str
    metrics: dict[str, Interval]
    by_topic: dict[str, dict[str, Interval]] = Field(default_factory=dict)
    metric_info: dict[str, MetricInfo] = Field(default_factory=dict)


class PairedSet(_Result):
    """A block of `physlora run`'s metrics.json: base and tuned on the same examples, compared."""

    kind: Literal["freeform", "mc"]
    n: int
    source: str
    base: dict[str, Interval]
    tuned: dict[str, Interval]
    comparison: dict[str, Comparison] = Field(default_factory=dict)
    by_topic: dict[str, dict[str, dict[str, Interval]]] = Field(default_factory=dict)
    metric_info: dict[str, MetricInfo] = Field(default_factory=dict)
    # "in-distribution": the eval split of the training data (and data.extra_eval); "transfer": data.transfer_eval
    origin: Literal["in-distribution", "transfer"] = "in-distribution"


class ToolPairedSet(PairedSet):
    """A free-form set of `physlora run` answered with the program tool: base and tuned (both in tools mode)
    compared as in PairedSet, how each used the tool, and tools - plain on the same questions per model."""

    tools: dict[str, ToolSummary | None] = Field(default_factory=dict)  # "base"/"tuned" -> summary
    vs_plain: dict[str, dict[str, Comparison]] = Field(default_factory=dict)  # "base"/"tuned" -> metric -> tools - plain


class ToolEvalSet(EvalSet):
    """A set of `physlora eval --mode tools|both`: one model in tools mode, and tools - plain if both ran."""

    tools: ToolSummary | None = None
    vs_plain: dict[str, Comparison] = Field(default_factory=dict)


class TrainSummary(_Result):
    steps: int
    seconds: float
    n_train: int
    train_tokens: int = 0
    truncated_rows: int = 0
    final_loss: float | None = None
    validation_evals: int = 0
    select_by: str | None = None  # train.select_by: the adapter is the checkpoint of best_step
    best_step: int | None = None
    best_metric: float | None = None
    stopped_early: bool = False


class RunMetrics(_Result):
    config: dict[str, Any]
    sets: dict[str, PairedSet]
    tool_sets: dict[str, ToolPairedSet] = Field(default_factory=dict)  # eval.mode tools | both
    train: TrainSummary | None = None
    seconds_total: float | None = None


class EvalMetrics(_Result):
    model: str
    adapter: str | None = None
    sets: dict[str, EvalSet]
    tool_sets: dict[str, ToolEvalSet] = Field(default_factory=dict)  # --mode tools | both
    environment: dict[str, Any] = Field(default_factory=dict)


R = TypeVar("R", bound=_Result)


def read_result(path: Path, schema: type[R]) -> R:
    """Read and validate a result file; a broken or foreign file is one PhysloraError naming it."""
    path = Path(path)
    try:
        return schema.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise PhysloraError(f"{path} not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PhysloraError(f"{path} is not valid JSON: {str(e).splitlines()[0]}") from None
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PhysloraError(f"{path} is not a {schema.__name__} file: {where}: {first['msg']}") from None


def result_json(result: _Result) -> dict[str, Any]:
    """The plain-JSON form written to disk (NaN kept as NaN, as Python's json writes it)."""
    return result.model_dump(mode="python")
