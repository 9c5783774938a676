"""Answering with retrieval: the prompt piece, the token budget, citations, lost/gained, retrieval-aware training
records, and `physlora eval` / `physlora run` with an index, with the real embedded model and embedder."""

from __future__ import annotations

import json

import pytest

from physlora.cli import main
from physlora.config import RetrievalSection
from physlora.data.records import Record
from physlora.evaluation.retrieval import lost_gained, training_effect
from physlora.prompting import build_prompt, encode_example, with_passages
from physlora.results.schema import EvalOutput
from physlora.retrieval.augment import for_evaluation, for_training
from physlora.retrieval.context import budget_passages, citations, strip_citations
from physlora.retrieval.search import Retriever

FREEFORM = [
    {"id": "q1", "question": "Two tones of 440 Hz and 444 Hz sound together. What beat frequency is heard?",
     "answer": "4 Hz, the difference |f1 - f2|.", "passage_id": "waves.md#beats"},
    {"id": "q2", "question": "What is the escape velocity from a planet of mass M and radius R?",
     "answer": "v = sqrt(2 G M / R).", "source": "orbits.pdf"},
    {"id": "q3", "question": "What does Snell's law say?", "answer": "n1 sin(theta1) = n2 sin(theta2).",
     "passage_id": "not-indexed.md#nowhere"},
]
MC = [
    {"id": "m1", "question": "Which law relates voltage, current and resistance?", "passage_id": "passages.jsonl#ohm",
     "choices": ["Ohm's law", "Snell's law", "Kepler's first law", "Hooke's law"], "answer": "Ohm's law"},
    {"id": "m2", "question": "On what curves do planets move around the Sun?", "passage_id": "orbits.pdf#keplers-laws",
     "choices": ["Circles centred on the Sun", "Ellipses with the Sun at a focus", "Parabolas", "Straight lines"],
     "answer": "Ellipses with the Sun at a focus"},
]
FAST = ["eval.max_new_tokens=24", "eval.bootstrap_resamples=200", "eval.batch_size=8", "eval.semantic=false"]


def records(rows) -> list[Record]:
    return [Record(**r) for r in rows]


def test_passages_go_into_the_user_turn_of_the_one_prompt(tokenizer):
    q = "Why is the sky blue?"
    assert with_passages(q, []) == q
    text = with_passages(q, [("optics.md > Scattering", "Rayleigh scattering goes as 1/lambda^4."), ("b.md", "Other.")])
    assert text.startswith("Sources:\n\n[1] optics.md > Scattering\nRayleigh") and "[2] b.md\nOther." in text
    assert text.endswith("cite them as [n].\n\nQuestion: Why is the sky blue?")
    prompt = build_prompt(tokenizer, text, "You are a physicist.")
    user_turn = prompt.split("<|im_start|>user\n")[1]
    assert user_turn.startswith("Sources:") and prompt.endswith("<|im_start|>assistant\n")


def test_budget_citations_and_stripping(tokenizer, library_index):
    hits = Retriever.open(library_index).search("escape velocity of a planet and Kepler's laws", k=5)
    passages = budget_passages(hits, tokenizer, 60)
    used = sum(len(tokenizer(p.title + "\n", add_special_tokens=False)["input_ids"]) + 4
               + len(tokenizer(p.text, add_special_tokens=False)["input_ids"]) for p in passages)
    assert passages and used <= 60 and len(passages) < 5
    everything = budget_passages(hits, tokenizer, 5000)
    assert [p.chunk.id for p in everything] == [h.chunk.id for h in hits] and not any(p.to_dict()["cut"] for p in everything)
    cited = citations("It is sqrt(2GM/R) [1], see also [2, 9] and [1].", everything)
    assert [(c["n"], c["valid"]) for c in cited] == [(1, True), (2, True), (9, False)]
    assert cited[0]["chunk_id"] == everything[0].chunk.id
    assert strip_citations("It is sqrt(2GM/R) [1], see [2, 3].") == "It is sqrt(2GM/R), see."


def _out(kind: str, values: dict[str, list[float]]) -> EvalOutput:
    n = len(next(iter(values.values())))
    return EvalOutput(kind=kind, rows=[{"id": f"x{i}", **{m: v[i] for m, v in values.items()}} for i in range(n)])


def test_lost_and_gained_counts_with_intervals():
    without = _out("mc", {"acc": [1, 1, 1, 0, 0, 0, 1, 0]})
    with_ = _out("mc", {"acc": [1, 0, 0, 1, 0, 1, 1, 1]})
    lg = lost_gained(without, with_, 500, 0)["acc"]
    assert (lg["lost"], lg["gained"], lg["both_right"], lg["both_wrong"], lg["n"]) == (2, 3, 2, 1, 8)
    assert lg["lost_ci95"][0] <= 2 <= lg["lost_ci95"][1] and lg["gained_ci95"][0] <= 3 <= lg["gained_ci95"][1]
    tuned_with = _out("mc", {"acc": [1, 1, 1, 1, 0, 1, 1, 1]})  # after training, nothing is lost to context
    effect = training_effect(without, with_, without, tuned_with, 500, 0)["acc"]
    assert effect["lost"]["base"] == 2 and effect["lost"]["tuned"] == 0 and effect["lost"]["diff"] == -2
    assert effect["gained"]["tuned"] == 3 and effect["gained"]["diff"] == 0


def test_retrieval_aware_training_records(tokenizer, library_index):
    retriever = Retriever.open(library_index)
    cfg = RetrievalSection(index=str(library_index), k=3, max_context_tokens=200)
    recs = records(FREEFORM)
    gold, counts = for_training(recs, retriever, tokenizer, cfg, "gold", max_length=512, seed=0)
    assert counts == {"gold": 2, "retrieved": 1}  # q3's gold is not in the index: it gets the retrieved passages
    assert "Standing waves" in gold[0].question or "beat" in gold[0].question.lower()
    n = int(gold[0].answer.rsplit("[", 1)[1].rstrip("]"))
    assert gold[0].question.split(f"[{n}] ")[1].startswith("waves.md > Waves > Beats")
    assert gold[2].answer == recs[2].answer  # no gold passage in its prompt: no citation
    for r in gold:
        assert not encode_example(tokenizer, r.question, r.answer, None, 512).truncated
    many = records([{**FREEFORM[0], "id": f"q{i}"} for i in range(40)])
    _, mixed = for_training(many, retriever, tokenizer, cfg, "mixed", 512, seed=1)
    assert set(mixed) == {"none", "gold", "distractors"} and 5 <= mixed["none"] <= 18
    none, _ = for_training(recs, retriever, tokenizer, cfg, "none", 512, seed=0)
    assert none == recs
    _, contexts = for_evaluation(recs, retriever, tokenizer, cfg)
    assert [c.scores is not None for c in contexts] == [True, True, False]
    assert contexts[0].scores["retrieval_recall"] == 1.0 and contexts[0].gold_in_prompt == 1


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sets")
    for name, rows in (("ff.jsonl", FREEFORM), ("mc.jsonl", MC)):
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


def test_eval_with_and_without_retrieval(sets, library_index, tmp_path, capsys, small):
    out = tmp_path / "ev"
    rc = main(["eval", "--model", "smollm2-135m-instruct", "--data", str(sets / "ff.jsonl"), "--data", str(sets / "mc.jsonl"),
               "--out", str(out), "--retrieval.index", str(library_index), "retrieval.k=2", *FAST])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "with vs without retrieval" in printed and "lost to context" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    ff, mc = metrics["sets"][str(sets / "ff.jsonl")], metrics["sets"][str(sets / "mc.jsonl")]
    for block in (ff, mc):
        rb = block["retrieval"]
        assert rb["k"] == 2 and rb["with"]["retrieval_recall"]["mean"] == 1.0
        assert rb["with"]["retrieval_recall"]["n"] == (2 if block is ff else 2)
        assert set(rb["comparison"]) >= ({"rouge_l", "ref_nll"} if block is ff else {"acc", "circular"})
    assert set(mc["retrieval"]["lost_gained"]) == {"acc", "acc_norm", "letter", "circular"}
    assert {"exact_match", "physics"} & set(ff["retrieval"]["lost_gained"])
    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    q1 = next(p for p in preds if p["id"] == "q1")
    assert q1["question"] == FREEFORM[0]["question"] and q1["retrieval_answer"] is not None
    ps = q1["retrieval"]["passages"]
    assert ps[0]["chunk_id"].startswith("waves.md::") and ps[0]["score"] > 0 and "citations" in q1
    assert (out / "retrieval.md").is_file() and not list(out.glob("answers_*"))


def test_eval_in_tools_mode_with_and_without_retrieval(sets, library_index, tmp_path, capsys, small, monkeypatch):
    # the real tool loop, spied on: the tools-mode prompts with retrieval carry the passages in the question
    from physlora.evaluation import tool_eval

    asked = []

    def spy(model, tokenizer, questions, **kwargs):
        asked.extend(questions)
        return real(model, tokenizer, questions, **kwargs)

    real = tool_eval.answer_with_tools
    monkeypatch.setattr(tool_eval, "answer_with_tools", spy)
    out = tmp_path / "ev"
    rc = main(["eval", "--model", "smollm2-135m-instruct", "--data", str(sets / "ff.jsonl"), "--out", str(out),
               "--mode", "tools", "--retrieval.index", str(library_index), "retrieval.k=2", "eval.max_tool_rounds=1",
               *FAST])
    assert rc == 0
    assert len(asked) == 6 and sum("beat frequency" in q for q in asked) >= 1  # 3 without, 3 with passages
    assert "(tools): physics with - without retrieval" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    block = metrics["tool_sets"][str(sets / "ff.jsonl")]
    rb = block["retrieval"]
    assert rb["with"]["retrieval_recall"]["mean"] == 1.0 and rb["with"]["retrieval_recall"]["n"] == 2
    assert {"physics", "tool_call"} <= set(rb["comparison"]) and "physics" in rb["lost_gained"]
    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert all(p["mode"] == "tools" and p["retrieval"]["passages"] and "retrieval_answer" in p for p in preds)
    assert "answered with the program tool" in (out / "retrieval.md").read_text()
    assert not list(out.glob("answers_*"))


@pytest.mark.slow
def test_run_with_retrieval_aware_training_reports_lost_and_gained(sets, library_index, tmp_path):
    rc = main(["run", "--data", str(sets / "ff.jsonl"), "--eval-data", str(sets / "ff.jsonl"), f"output_dir={tmp_path}",
               "name=rag", f"data.extra_eval=[{sets / 'mc.jsonl'}]", "data.retrieval=gold",
               f"retrieval.index={library_index}", "retrieval.k=2", "train.max_steps=2", "train.batch_size=2",
               "train.grad_accum=1", "train.warmup_steps=0", "train.report_to=[]", *FAST])
    assert rc == 0
    run = tmp_path / "rag"
    metrics = json.loads((run / "metrics.json").read_text())
    for block in metrics["sets"].values():
        r = block["retrieval"]
        assert set(r) == {"base", "tuned", "tuned_vs_base_with_retrieval", "training_effect", "data_retrieval"}
        assert r["data_retrieval"] == "gold" and r["training_effect"]
        assert r["tuned"]["with"]["retrieval_recall"]["mean"] == 1.0
    report = (run / "report.md").read_text()
    assert "With vs without retrieval" in report and "Did training change how the model uses context?" in report
    assert "Sample answers with retrieval" in report
    preds = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert all("tuned_retrieval_answer" in p and p["retrieval"]["passages"] for p in preds)
    from physlora.serve.app import _load_run_files  # the serve page's rows keep what it shows under each answer

    _, rows = _load_run_files(run)
    assert all(r["retrieval"]["passages"] and r["tuned_retrieval_answer"] is not None for r in rows)


def test_ask_and_serve_answer_with_their_sources(library_index, tmp_path, capsys):
    """`ask` prints the answer and its sources; the serve API returns the passages both models saw, with
    their place in the user's files (the page shows them with textContent)."""
    from fastapi.testclient import TestClient

    from physlora.config import load_config
    from physlora.results.io import atomic_write_text, write_json, write_jsonl
    from physlora.serve.app import create_app

    assert main(["ask", "--retrieval.index", str(library_index), "--max-new-tokens", "8",
                 "What is the escape velocity of a planet?", "retrieval.k=2"]) == 0
    printed = capsys.readouterr().out
    assert "sources:" in printed and "orbits.pdf > Escape velocity (p. 2)" in printed

    run = tmp_path / "run"
    cfg = load_config(None, [f"retrieval.index={library_index}", "retrieval.k=2", "eval.max_new_tokens=8"])
    atomic_write_text(run / "config.yaml", cfg.to_yaml())
    write_json(run / "metrics.json", {"config": cfg.model_dump(mode="json"), "sets": {}})
    write_jsonl(run / "predictions.jsonl", [])
    atomic_write_text(run / "adapter" / "adapter_config.json", "{}")  # never loaded: the model is passed in
    from types import SimpleNamespace

    from peft import LoraConfig, get_peft_model

    from physlora.models.loading import load_model

    fresh = load_model("smollm2-135m-instruct", device="cpu")  # a fresh LoRA (B = 0): tuned answers = base answers
    peft_model = get_peft_model(fresh.model, LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM")).eval()
    served = SimpleNamespace(model=peft_model, tokenizer=fresh.tokenizer)
    with TestClient(create_app(run, model=served), base_url="http://127.0.0.1:8000") as client:
        r = client.post("/api/ask", json={"question": "How do the beats of two tones arise?"})
    assert r.status_code == 200
    body = r.json()
    assert [p["n"] for p in body["passages"]] == [1, 2] and body["base"] == body["tuned"]
    top = body["passages"][0]
    assert top["doc"] == "waves.md" and top["heading"] == "Waves > Beats" and top["span"] == "lines 11-11"
    assert top["path"].endswith("waves.md") and "beat frequency" in top["text"]


def test_config_keys_as_flags():
    from physlora.cli import dotted_flags_as_overrides

    assert dotted_flags_as_overrides(["ask", "--retrieval.index", "IDX", "--max-new-tokens", "8", "Why?", "--retrieval.k=2"]) == [
        "ask", "--max-new-tokens", "8", "Why?", "retrieval.index=IDX", "retrieval.k=2"]
    assert dotted_flags_as_overrides(["eval", "--out", "o.d"]) == ["eval", "--out", "o.d"]  # a dot in a value is not a key


def test_run_in_both_modes_with_retrieval_pairs_each_mode(sets, library_index, tmp_path, tiny_llama_dir):
    # tiny random Llama (fast; it writes no code, so its tools-mode answers are "no tool call" rows)
    rc = main(["run", "--model", str(tiny_llama_dir), "--data", str(sets / "ff.jsonl"), "--eval-data",
               str(sets / "ff.jsonl"), f"output_dir={tmp_path}", "name=rag-tools", "eval.mode=both",
               f"retrieval.index={library_index}", "retrieval.k=2", "train.max_steps=2", "train.batch_size=2",
               "train.grad_accum=1", "train.warmup_steps=0", "train.report_to=[]", "eval.max_tool_rounds=1", *FAST])
    assert rc == 0
    run = tmp_path / "rag-tools"
    metrics = json.loads((run / "metrics.json").read_text())
    (name, tools), = metrics["tool_sets"].items()
    for block in (metrics["sets"][name], tools):  # plain and tools mode, each with vs without passages
        r = block["retrieval"]
        assert set(r) == {"base", "tuned", "tuned_vs_base_with_retrieval", "training_effect", "data_retrieval"}
        assert r["tuned"]["with"]["retrieval_recall"]["mean"] == 1.0
    assert "tool_call" in tools["retrieval"]["base"]["comparison"]
    preds = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 3
    for p in preds:
        assert {"tuned_retrieval_answer", "tuned_tools_answer", "tuned_tools_retrieval_answer"} <= set(p)
        assert p["tuned_tools_retrieval"]["tool_stop"] == "no_tool_call" and p["retrieval"]["passages"]
    report = (run / "report.md").read_text()
    assert report.count("With vs without retrieval") == 2
