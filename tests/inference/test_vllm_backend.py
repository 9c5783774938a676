"""eval.backend=vllm where vLLM or a GPU is missing: one line that says what to do, before any model loads.
(On a GPU with vLLM, bench/vllm_check.sh compares its answers with transformers generation.)"""

import time

import pytest

from physlora.cli import main
from physlora.inference.vllm_backend import lora_rank_limit, vllm_unavailable_reason

REASON = vllm_unavailable_reason()
needs_no_vllm = pytest.mark.skipif(REASON is None, reason="vLLM and a CUDA GPU are available here")


@needs_no_vllm
@pytest.mark.parametrize("command", ["eval", "run"])
def test_vllm_backend_without_vllm_or_gpu_is_one_line_before_the_model_loads(command, tmp_path, fixtures, capsys):
    if command == "eval":
        argv = ["eval", "--model", "smollm2-135m-instruct", "--data", str(fixtures / "mini_mc.jsonl"),
                "--out", str(tmp_path / "out"), "eval.backend=vllm"]
    else:
        argv = ["run", f"output_dir={tmp_path}", "name=v", f"data.train={fixtures / 'mini.jsonl'}", "eval.backend=vllm"]
    started = time.perf_counter()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "eval.backend=vllm" in err and "eval.backend=transformers" in err
    assert ("pip install vllm" in err) or ("CUDA GPU" in err)
    assert time.perf_counter() - started < 10  # no model was loaded first
    assert not (tmp_path / "out" / "metrics.json").exists() and not (tmp_path / "v").exists()


def test_lora_rank_limit_is_a_rank_vllm_accepts():
    assert [lora_rank_limit(r) for r in (1, 8, 9, 16, 64, 65)] == [8, 8, 16, 16, 64, 128]
