"""`physlora` command line: run, eval, train, ask, report, config show."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from physlora.errors import PhysloraError, TrainingInterrupted
from physlora.untrusted import TerminalStream, terminal_text

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def _parent(*flags: tuple[tuple[str, ...], dict]) -> argparse.ArgumentParser:
    """A parent parser holding flags that several subcommands share (argparse `parents=`)."""
    p = argparse.ArgumentParser(add_help=False)
    for names, kwargs in flags:
        p.add_argument(*names, **kwargs)
    return p


MODEL_HELP = "alias (smollm2-135m-instruct), hub id, directory or .gguf file"
CONFIGURED = _parent(
    (("--config",), dict(help="YAML config (see configs/); flags and key=value overrides win over it")),
    (("--system-prompt",), dict(help="system prompt for the chat template ('' for none)")),
    (("--trust-remote-code",), dict(action="store_true", help="allow model code from the hub (off by default)")),
    (("overrides",), dict(nargs="*", metavar="key=value", help="config overrides, e.g. train.max_steps=20")),
)
MODEL = _parent((("--model",), dict(help=MODEL_HELP)))
MODEL_REQUIRED = _parent((("--model",), dict(required=True, help=MODEL_HELP)))
ADAPTER = _parent((("--adapter",), dict(help="LoRA adapter folder (as written by train)")))
SKIP_INVALID = _parent((("--skip-invalid",), dict(action="store_true",
                                                  help="drop malformed data rows (and report them) instead of stopping")))
OVERWRITE = _parent((("--overwrite",), dict(action="store_true", help="replace an existing output folder")))
RESUME = _parent((("--resume",), dict(action="store_true", help="continue an interrupted run/eval in the same folder")))
TRAIN_DATA = _parent((("--data",), dict(help="training data: bundled name, file or hub id")))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="physlora", description="LoRA fine-tuning and evaluation of small LLMs on physics Q&A")
    sub = parser.add_subparsers(dest="command", required=True)
    add = lambda name, help, *parents: sub.add_parser(name, help=help, parents=list(parents))  # noqa: E731

    p = add("run", "evaluate base -> LoRA fine-tune -> evaluate tuned -> report",
            CONFIGURED, MODEL, TRAIN_DATA, OVERWRITE, RESUME, SKIP_INVALID)
    p.add_argument("--eval-data", help="evaluation data (default: the training source's test split or a held-out part)")

    p = add("eval", "evaluate a model (optionally with an adapter) on one or more data sets",
            CONFIGURED, MODEL_REQUIRED, ADAPTER, RESUME, SKIP_INVALID)
    p.add_argument("--data", required=True, action="append",
                   help="data set (bundled name, benchmark NAME[@VARIANT][=PATH], file or hub id); repeat for several")
    p.add_argument("--split", help="split of a bundled/hub set (default: test); files are used whole")
    _add_list_benchmarks(p)
    p.add_argument("--max-examples", type=int, help="evaluate N evenly spaced examples of each set")
    p.add_argument("--out", required=True, help="output folder for metrics.json and predictions.jsonl")
    p.add_argument("--mode", choices=["plain", "tools", "both"],
                   help="answer plainly, with the program tool (sandboxed Python), or both, paired (eval.mode)")

    p = add("train", "LoRA fine-tune a model and save the adapter to OUT/adapter",
            CONFIGURED, MODEL, TRAIN_DATA, OVERWRITE, RESUME, SKIP_INVALID)
    p.add_argument("--split", help="split of a bundled/hub set (default: train)")
    p.add_argument("--max-steps", type=int, help="optimizer steps (of GRPO with train.method=grpo)")
    p.add_argument("--out", required=True, help="output folder")

    p = add("ask", "answer one question (or chat when no question is given)", CONFIGURED, MODEL, ADAPTER)
    p.add_argument("question", nargs="?", help="the question; omit it for an interactive chat")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--tools", action="store_true",
                   help="let the model write Python programs, run them in the sandbox and show their output")

    p = add("merge", "fold a LoRA adapter into the base model and save it (plain transformers folder)", CONFIGURED, MODEL)
    p.add_argument("--adapter", required=True, help="LoRA adapter folder")
    p.add_argument("--out", required=True, help="output folder for the merged model")

    from physlora.serve import app as serve

    serve.add_parser(sub)
    _add_experiment_parsers(sub)

    from physlora.retrieval import command as retrieval_command

    retrieval_command.add_parsers(sub)

    p = add("report", "rebuild report.md from a run folder")
    p.add_argument("run_dir")

    p = add("config", "configuration tools")
    csub = p.add_subparsers(dest="config_command", required=True)
    c = csub.add_parser("show", help="print the resolved config")
    c.add_argument("--config")
    c.add_argument("overrides", nargs="*", metavar="key=value")
    return parser


class _ListBenchmarks(argparse.Action):
    """`--list-benchmarks` prints the benchmark registry and exits, before the required flags are checked."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from physlora.data.benchmarks import benchmark_table

        print(benchmark_table())
        parser.exit()


def _add_list_benchmarks(p: argparse.ArgumentParser) -> None:
    p.add_argument("--list-benchmarks", action=_ListBenchmarks,
                   help="print the benchmarks --data accepts by name (mmlu:college_physics, gpqa:physics, ...) and exit")


def _add_experiment_parsers(sub) -> None:
    """`sweep` and `compare` (physlora.experiments.sweep / .compare)."""
    p = sub.add_parser("sweep", help="hyperparameter sweep over any config keys (Optuna here, Ray Tune on a cluster)")
    p.add_argument("--config", required=True, help="sweep file (see configs/sweep-demo.yaml)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="overrides of the sweep file, e.g. n_trials=4")
    p = sub.add_parser("compare", help="one table + plot of many runs (and sweeps) on the same eval sets")
    p.add_argument("runs", nargs="+", metavar="RUN_OR_SWEEP", help="run folders and/or sweep folders")
    p.add_argument("--baseline", default="0", help="the run the others are tested against: index or name (default: the first)")
    p.add_argument("--out", help="output folder (default: compare/ next to the first run)")


def _experiment_command(args: argparse.Namespace) -> int:
    if args.command == "sweep":
        from physlora.experiments.sweep import sweep

        folder = sweep(args.config, args.overrides)
        print(f"sweep written to {folder} (summary.md, best_config.yaml)")
        return 0
    from physlora.experiments.compare import write_comparison

    stray = [o for o in getattr(args, "overrides", None) or []]
    if stray:
        raise PhysloraError(f"compare takes no key=value overrides (got {' '.join(stray)})")
    out = Path(args.out) if args.out else Path(args.runs[0]).parent / "compare"
    print(f"wrote {write_comparison(args.runs, out, args.baseline)}")
    return 0


def _resolve_config(args: argparse.Namespace):
    from physlora.config import load_config

    overrides = [o for o in getattr(args, "overrides", []) or []]
    cfg = load_config(getattr(args, "config", None), overrides)
    # explicit flags override both file and key=value
    if getattr(args, "model", None):
        cfg.model.name = args.model
    if getattr(args, "system_prompt", None) is not None:
        cfg.system_prompt = args.system_prompt or None
    if getattr(args, "trust_remote_code", False):
        cfg.model.trust_remote_code = True
    if getattr(args, "skip_invalid", False):
        cfg.data.skip_invalid = True
    return cfg


def _split_question_overrides(args: argparse.Namespace) -> None:
    """`ask` takes one positional question; argparse may file it under overrides."""
    if args.command == "ask" and args.question is None and args.overrides:
        words = [o for o in args.overrides if "=" not in o]
        if words:
            args.question = " ".join(words)
            args.overrides = [o for o in args.overrides if "=" in o]


def dotted_flags_as_overrides(argv: list[str]) -> list[str]:
    """`--retrieval.index DIR` / `--retrieval.k=3` (a config key written as a flag) -> `retrieval.index=DIR`,
    moved to the end so that it never takes the place of a positional argument (ask's question)."""
    out, overrides, i = [], [], 0
    while i < len(argv):
        a = argv[i]
        key = a[2:].split("=", 1)[0] if a.startswith("--") else ""
        if "." in key and not key.startswith("."):
            if "=" in a:
                overrides.append(a[2:])
            elif i + 1 < len(argv):
                overrides.append(f"{key}={argv[i + 1]}")
                i += 1
            else:
                out.append(a)  # a dotted flag with no value: argparse names the problem
        else:
            out.append(a)
        i += 1
    return out + overrides


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = dotted_flags_as_overrides(sys.argv[1:] if argv is None else list(argv))
    # key=value overrides may sit anywhere among the flags (argparse only takes one positional run)
    args, extra = parser.parse_known_args(argv)
    stray = [e for e in extra if e.startswith("-") or "=" not in e]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if extra:
        args.overrides = list(getattr(args, "overrides", None) or []) + extra
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        _split_question_overrides(args)
        return _dispatch(args)
    except TrainingInterrupted as e:
        print(f"physlora: {e}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except PhysloraError as e:
        print(f"physlora: error: {terminal_text(e)}", file=sys.stderr)  # messages may quote data rows
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("physlora: interrupted; files already written are complete (results are written atomically)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as e:
        if e.errno == 28:  # ENOSPC
            print(f"physlora: error: no space left on device while writing {e.filename or ''}; free disk and rerun", file=sys.stderr)
            return EXIT_USER_ERROR
        raise


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "serve":
        from physlora.serve import app as serve

        return serve.main(args)
    if args.command in ("index", "search"):
        from physlora.retrieval import command as retrieval_command

        return retrieval_command.main(args)
    if args.command == "report":
        from physlora.report.markdown import build_report

        run_dir = Path(args.run_dir)
        if not (run_dir / "metrics.json").is_file():
            raise PhysloraError(f"{run_dir} has no metrics.json: not a finished run folder")
        print(terminal_text(build_report(run_dir)))
        return 0
    if args.command == "config":
        print(_resolve_config(args).to_yaml(), end="")
        return 0
    if args.command in ("sweep", "compare"):
        return _experiment_command(args)
    cfg = _resolve_config(args)
    if args.command == "ask":
        return _ask(args, cfg)
    if args.command == "merge":
        from physlora.models.export import merge_adapter

        out = merge_adapter(cfg.model.name, args.adapter, args.out, dtype="float32" if cfg.model.dtype == "auto" else cfg.model.dtype)
        print(f"merged model written to {out} (load it with AutoModelForCausalLM.from_pretrained)")
        return 0
    # heavy imports only for the commands that need them
    if args.command == "run":
        from physlora.experiments.run import run

        if args.data:
            cfg.data.train = args.data
        if args.eval_data:
            cfg.data.eval = args.eval_data
        run(cfg, overwrite=args.overwrite, resume=args.resume)
    elif args.command == "eval":
        from physlora.experiments.evaluate import evaluate_sets

        if args.mode:
            cfg.eval.mode = args.mode
        evaluate_sets(cfg.model.name, args.data, Path(args.out), cfg, adapter=args.adapter, split=args.split,
                               max_examples=args.max_examples, resume=args.resume)
    elif args.command == "train":
        from physlora.experiments.train import train

        if args.data:
            cfg.data.train = args.data
        if args.split:
            cfg.data.train_split = args.split
        if args.max_steps:  # the steps of the last stage: GRPO's own with train.method=grpo
            target = cfg.train.grpo if cfg.train.stage_list[-1] == "grpo" else cfg.train
            target.max_steps = args.max_steps
        train(cfg, Path(args.out), overwrite=args.overwrite, resume=args.resume)
    return 0


def _ask(args: argparse.Namespace, cfg) -> int:
    from physlora.inference.generate import generate_answers
    from physlora.models.loading import load_model
    from physlora.prompting import PromptStyle

    if getattr(args, "tools", False) and cfg.prompt.format == "plain":  # before the model load
        raise PhysloraError("ask --tools needs prompt.format=chat: a tool exchange uses the chat template")
    loaded = load_model(cfg.model.name, adapter=args.adapter or cfg.model.adapter, dtype=cfg.model.dtype,
                        trust_remote_code=cfg.model.trust_remote_code)
    sources = _sources(cfg, loaded.tokenizer)
    if getattr(args, "tools", False):
        return _ask_with_tools(args, cfg, loaded, sources)
    if args.question:
        prompt, passages = sources(args.question)
        answer = generate_answers(loaded.model, loaded.tokenizer, [prompt], system_prompt=cfg.system_prompt,
                                  max_new_tokens=args.max_new_tokens, batch_size=1, style=PromptStyle(cfg.prompt.format))[0]
        print(terminal_text(answer))  # model text: no escape sequence reaches the terminal
        _print_sources(answer, passages)
        return 0
    chat(loaded, cfg.system_prompt, args.max_new_tokens, style=PromptStyle(cfg.prompt.format), sources=sources)
    return 0


def _sources(cfg, tokenizer):
    """question -> (prompt question, passages): with `retrieval.index`, the question with its passages."""
    if not cfg.retrieval.index:
        return lambda q: (q, [])
    from physlora.retrieval.augment import prompt_with_sources
    from physlora.retrieval.search import Retriever

    retriever = Retriever.open(cfg.retrieval.index)
    return lambda question: prompt_with_sources(question, retriever, tokenizer, cfg.retrieval)


def _print_sources(answer: str, passages, write=print) -> None:
    from physlora.retrieval.context import citations

    if not passages:
        return
    cited = {c["n"] for c in citations(answer, passages) if c["valid"]}
    write("sources:")
    for p in passages:
        write(f"  [{p.n}]{'*' if p.n in cited else ' '} {terminal_text(p.title)} ({p.chunk.span()})")  # from user files


def _ask_with_tools(args: argparse.Namespace, cfg, loaded, sources, write=print) -> int:
    """`ask --tools`: the model's programs, what the sandbox printed for each, and the final answer (with
    `retrieval.index`, the question carries its passages and the sources are listed after the answer)."""
    from physlora.inference.tools import answer_with_tools
    from physlora.tools.sandbox import Sandbox

    if not args.question:
        raise PhysloraError("ask --tools needs a question (the interactive chat has no tool)")

    prompt, passages = sources(args.question)
    with Sandbox() as box:
        (answer,) = answer_with_tools(loaded.model, loaded.tokenizer, [prompt], system_prompt=cfg.system_prompt,
                                      sandbox=box, max_rounds=cfg.eval.max_tool_rounds,
                                      max_new_tokens=args.max_new_tokens, batch_size=1)
    for k, call in enumerate(answer.calls, 1):
        write(f"--- program {k} ({call.status}, {call.seconds:.2f} s in the sandbox)")
        write(terminal_text(call.program))  # model and program text: no escape sequence reaches the terminal
        write(f"--- output {k}")
        write(terminal_text(call.shown))
    write(("--- answer" if answer.calls else "--- answer (no tool call)"))
    write(terminal_text(answer.final))
    _print_sources(answer.final, passages, write)
    return 0


def chat(loaded, system_prompt: str | None, max_new_tokens: int, read=input, write=print, style=None,
         sources=None) -> None:
    """A streaming chat REPL: each answer sees the earlier turns; /reset forgets them, /quit leaves.
    `sources(question) -> (prompt, passages)` adds retrieved passages to each question (history keeps the
    plain question)."""
    from physlora.inference.generate import stream_answer
    from physlora.prompting import encode_prompt

    history: list[tuple[str, str]] = []
    write("physlora chat: ask a physics question; /reset starts a new conversation, /quit exits")
    while True:
        try:
            question = read("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            write("")
            return
        if question in ("/quit", "/exit"):
            return
        if question == "/reset":
            history.clear()
            write("(conversation cleared)")
            continue
        if not question:
            continue
        prompt, passages = sources(question) if sources else (question, [])
        ids = encode_prompt(loaded.tokenizer, prompt, system_prompt, history, style=style)
        write("model> ", end="", flush=True)
        pieces, shown = [], TerminalStream()  # model text: escape sequences removed even when split across pieces
        for piece in stream_answer(loaded.model, loaded.tokenizer, ids, max_new_tokens=max_new_tokens):
            pieces.append(piece)
            write(shown.feed(piece), end="", flush=True)
        write(shown.flush())
        _print_sources("".join(pieces), passages, write)
        history.append((question, "".join(pieces).strip()))


if __name__ == "__main__":
    sys.exit(main())
