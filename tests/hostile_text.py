"""Hostile strings for the untrusted-text tests (report, page, terminal), and a small HTML reader to check
what a page really contains. Imported by tests as `hostile_text` (pytest puts tests/ on sys.path)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

# each sets window.__pwned if it ever runs as script, in a browser
SCRIPT = "<script>window.__pwned = 'script'</script>"
IMG = "<img src=x onerror=\"window.__pwned = 'img'\">"
LINKS = "[click](javascript:window.__pwned='md') <a href=\"javascript:window.__pwned='a'\">link</a> <javascript:x>"
CELL_BREAKER = "</td></tr><tr><td>extra | cell\nnew line | x"
MARKDOWN = "# not a heading\n*not em* _nor this_ **nor bold** ~~nor struck~~\n- not a list\n1. nor this\n> nor a quote\n---"
NOTATION = r"a*b*c, 2*3*4, v_x, x < y, E = mc^2, \frac{1}{2}, $\frac{1}{2} m v^2$, |v| = 3 & p&lt;q"
BIDI = "price\u202e01$\u202c, zero\u200bwidth\u2060word\ufeff"
ANSI = "\x1b[31mred\x1b[0m \x1b]0;pwned title\x07\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\ \x1b[2J\x1b[H end"
ONE_MB = "m" * 1_000_000

ALL = {"script": SCRIPT, "img": IMG, "links": LINKS, "cell": CELL_BREAKER, "markdown": MARKDOWN,
       "notation": NOTATION, "bidi": BIDI, "ansi": ANSI}
EVERYTHING = " ".join(ALL.values())

# characters that must never reach any output raw
RAW_FORBIDDEN = ("\x1b", "\x07", "\u202e", "\u202c", "\u200b", "\u2060", "\ufeff")


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list["Node | str"] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else ("\n" if c.tag == "br" else c.text()) for c in self.children)

    def find_all(self, tag: str) -> list["Node"]:
        found = []
        for c in self.children:
            if isinstance(c, Node):
                if c.tag == tag:
                    found.append(c)
                found += c.find_all(tag)
        return found


class _TreeBuilder(HTMLParser):
    VOID = {"br", "img", "meta", "link", "hr", "input"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse_html(text: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(text)
    builder.close()
    return builder.root


def table_cells(table: Node) -> list[list[str]]:
    return [[cell.text() for cell in row.children if isinstance(cell, Node) and cell.tag in ("td", "th")]
            for row in table.find_all("tr")]


def all_tags(root: Node) -> list[Node]:
    out = []
    for c in root.children:
        if isinstance(c, Node):
            out += [c] + all_tags(c)
    return out


# ---------------------------------------------------------------- a run folder full of hostile text

RUN_NAME = "run " + IMG + " *x* | y \x1b[31m\u202e#z"  # a folder name: anything but "/" and NUL
SET_NAME = "set " + SCRIPT + " | **b** \u202e"
LABEL = "Token F1 " + IMG + " | a*b*c $x$"


def hostile_data_file(path) -> int:
    """A JSON Lines data set with hostile ids, topics, questions and answers, one line of invalid UTF-8.
    Returns the number of valid rows."""
    import json

    rows = [
        {"id": "id-" + SCRIPT, "topic": "topic " + IMG, "question": "Q1 " + NOTATION, "answer": "A1 " + ALL["markdown"]},
        {"id": "id-2 | *x*", "topic": "topic </td> | x\ny", "question": "Q2 " + LINKS, "answer": "A2 " + CELL_BREAKER},
        {"id": "id-3\u202e\u200b", "topic": "topic " + BIDI, "question": "Q3 " + ANSI, "answer": "A3 " + BIDI},
        {"id": "id-4", "topic": "topic # h", "question": "Q4 " + MARKDOWN, "answer": "A4 " + ONE_MB},
    ]
    lines = [json.dumps(r, ensure_ascii=False).encode("utf-8") for r in rows]
    lines.insert(2, b'{"id": "broken", "question": "caf\xe9 in Latin-1", "answer": "x"}')
    path.write_bytes(b"\n".join(lines) + b"\n")
    return len(rows)


def write_hostile_run(run_dir, records, *, config: dict | None = None) -> dict:
    """metrics.json (RunMetrics), predictions.jsonl (with one line of invalid UTF-8) and train_log.jsonl of a
    run over `records`, every text field hostile. Returns what was written, to compare the pages against."""
    from physlora.results.io import write_json, write_jsonl
    from physlora.results.schema import Comparison, Interval, MetricInfo, PairedSet, RunMetrics, result_json

    def stat(mean, n):
        return Interval(mean=mean, ci95=(mean - 0.05, mean + 0.05), n=n)

    n = len(records)
    topics = [r.topic for r in records]
    block = PairedSet(
        kind="freeform", n=n, source=SET_NAME,
        base={"token_f1": stat(0.2, n), "rouge_l": stat(0.1, n), "ref_nll": stat(2.5, n)},
        tuned={"token_f1": stat(0.3, n), "rouge_l": stat(0.2, n), "ref_nll": stat(2.0, n)},
        comparison={"token_f1": Comparison(diff=0.1, ci95=(0.05, 0.15), p_value=0.01, n=n),
                    "rouge_l": Comparison(diff=0.1, ci95=(-0.01, 0.2), p_value=0.2, n=n),
                    "ref_nll": Comparison(diff=-0.5, ci95=(-0.6, -0.4), p_value=0.001, n=n)},
        by_topic={"base": {t: {"rouge_l": stat(0.1, 1)} for t in topics},
                  "tuned": {t: {"rouge_l": stat(0.2, 1)} for t in topics}},
        metric_info={"token_f1": MetricInfo(name="token_f1", label=LABEL),
                     "rouge_l": MetricInfo(name="rouge_l", label="ROUGE-L"),
                     "ref_nll": MetricInfo(name="ref_nll", label="Reference NLL (nats/token)", higher_is_better=False)},
    )
    cfg = config or {"name": RUN_NAME, "model": {"name": "model " + IMG},
                     "data": {"train": "data " + SCRIPT}, "eval": {"samples_in_report": 10}}
    metrics = RunMetrics(config=cfg, sets={SET_NAME: block})
    write_json(run_dir / "metrics.json", result_json(metrics))
    answers = [(ANSI + " " + CELL_BREAKER, LINKS + " " + NOTATION), (SCRIPT, IMG), (BIDI, MARKDOWN), (ONE_MB, "short")]
    predictions = [
        {"set": SET_NAME, "id": r.id, "topic": r.topic, "question": r.question, "reference": r.answer,
         "base_answer": answers[i % len(answers)][0], "tuned_answer": answers[i % len(answers)][1]}
        for i, r in enumerate(records)
    ]
    write_jsonl(run_dir / "predictions.jsonl", predictions)
    with (run_dir / "predictions.jsonl").open("ab") as f:  # a line a crash or an editor left undecodable
        f.write(b'{"set": "s", "id": "bad-\xff-byte", "question": "q\xfe", "reference": "r", '
                b'"base_answer": "b", "tuned_answer": "t"}\n')
    predictions.append({"set": "s", "id": "bad-\ufffd-byte", "question": "q\ufffd", "reference": "r",
                        "base_answer": "b", "tuned_answer": "t"})
    write_jsonl(run_dir / "train_log.jsonl", [{"step": s, "loss": 3.0 - 0.1 * s, "learning_rate": 1e-4} for s in (1, 2, 3)])
    return {"metrics": metrics, "predictions": predictions, "topics": topics}
