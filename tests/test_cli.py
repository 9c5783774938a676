"""The command line as a user types it."""

import subprocess
import sys

from physlora.cli import main


def physlora(*args, stdin=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "physlora", *args], input=stdin, capture_output=True, text=True, timeout=timeout)


def test_ask_prints_only_the_answer():
    proc = physlora("ask", "--model", "smollm2-135m-instruct", "--max-new-tokens", "12", "What is the SI unit of force?")
    assert proc.returncode == 0, proc.stderr[-2000:]
    answer = proc.stdout.strip()
    assert answer and "<|im_" not in answer and not answer.startswith("What is the SI unit")


def test_chat_repl_streams_resets_and_quits():
    proc = physlora("ask", "--model", "smollm2-135m-instruct", "--max-new-tokens", "8",
                    stdin="What is g on Earth?\nAnd on the Moon?\n/reset\nWhat is a joule?\n/quit\n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert out.count("model> ") == 3 and "(conversation cleared)" in out


def test_every_subcommand_has_help(capsys):
    for cmd in ("run", "eval", "train", "ask", "merge", "report", "config"):
        try:
            main([cmd, "--help"])
        except SystemExit as e:
            assert e.code == 0
        assert "usage: physlora" in capsys.readouterr().out


def test_report_on_a_folder_without_results_is_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "metrics.json" in err


def test_bad_config_value_exits_2(capsys):
    assert main(["config", "show", "lora.r=0"]) == 2
    assert "lora.r" in capsys.readouterr().err


def test_bad_data_file_exits_2_naming_the_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "a"}\n{broken\n')
    rc = main(["eval", "--model", "smollm2-135m-instruct", "--data", str(bad), "--out", str(tmp_path / "o")])
    assert rc == 2 and "bad.jsonl:2" in capsys.readouterr().err
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_interrupted_eval_resumes_from_answers_already_written(tmp_path, fixtures):
    """Answers saved batch by batch are reused by --resume: only the missing ones are generated."""
    out = tmp_path / "ev"
    out.mkdir()
    data = fixtures / "mini.jsonl"
    partial = out / ("answers_" + "".join(c if c.isalnum() else "_" for c in str(data))[-80:] + ".partial.jsonl")
    partial.write_text('{"id": "t1", "prediction": "F = m a, said the cache."}\n{"id": "t2", "predicti')  # cut by a crash
    args = ["eval", "--model", "smollm2-135m-instruct", "--data", str(data), "--max-examples", "3", "--out", str(out),
            "eval.max_new_tokens=6", "eval.semantic=false", "eval.nll=false", "--resume"]
    assert main(args) == 0
    import json

    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert rows[0]["prediction"] == "F = m a, said the cache." and rows[1]["prediction"] and len(rows) == 3
    assert not partial.exists()
