"""The local page of a run evaluated with the program tool: under each answer, every program the model wrote
and what the sandbox printed for it, shown as text (a hostile program runs nothing in the page)."""

from __future__ import annotations

import json
import shutil

import pytest

from chromium_helpers import browser_or_skip, chromium_page, serve_process, wait_until

PROGRAM = "print('<img src=x onerror=\"window.__pwned=1\">')\n# </pre><script>window.__pwned=2</script>"


@pytest.fixture(scope="module")
def tools_folder(run_folder, tmp_path_factory):
    """The real run folder (real adapter) with predictions of a tools-mode run."""
    run_dir = tmp_path_factory.mktemp("tools-serve") / "mini"
    shutil.copytree(run_folder.path, run_dir, ignore=shutil.ignore_patterns("checkpoints"))
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    for i, row in enumerate(rows):
        call = {"program": PROGRAM if i == 0 else f"print({i} * 9.8, 'N')", "status": "ok", "stdout": f"{i * 9.8} N\n",
                "shown": "<b>9.8 N</b>" if i == 0 else f"{i * 9.8} N", "seconds": 0.05}
        row["tuned_tools_answer"] = f"The answer is {i * 9.8} N."
        row["tuned_tools"] = {"tool_calls": [call], "tool_stop": "answered", "tool_rounds": 1}
        row["base_tools_answer"] = "I do not know."
        row["base_tools"] = {"tool_calls": [], "tool_stop": "no_tool_call", "tool_rounds": 0}
    (run_dir / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run_dir, rows


@pytest.mark.slow
def test_programs_and_outputs_under_each_answer(request, tmp_path):
    sync_playwright = browser_or_skip()
    run_dir, rows = request.getfixturevalue("tools_folder")
    with serve_process(run_dir, tmp_path / "server.log") as url, chromium_page(sync_playwright) as page:
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        wait_until(page, "document.querySelectorAll('#pred-table pre.program').length > 0", timeout=60)
        state = page.evaluate("""() => ({
          pwned: typeof window.__pwned,
          injected: document.querySelectorAll('#pred-table img, #pred-table script, #pred-table b').length,
          programs: [...document.querySelectorAll('#pred-table pre.program')].map(p => p.textContent),
          outputs: [...document.querySelectorAll('#pred-table pre.output')].map(p => p.textContent),
          finals: [...document.querySelectorAll('#pred-table .final')].map(p => p.textContent),
          noCall: [...document.querySelectorAll('#pred-table .tools')].filter(b => b.textContent.includes('(no tool call)')).length,
        })""")
        shown = min(len(rows), 10)  # the first page of predictions
        assert state["pwned"] == "undefined" and state["injected"] == 0 and errors == []
        assert state["programs"] == [r["tuned_tools"]["tool_calls"][0]["program"] for r in rows[:shown]]
        assert state["outputs"][0] == "<b>9.8 N</b>" and len(state["outputs"]) == shown
        assert "The answer is 0.0 N." in state["finals"] and state["noCall"] == shown  # the base model's cells
