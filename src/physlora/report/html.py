"""report.html: a self-contained page (images inlined) made from report.md."""

from __future__ import annotations

from pathlib import Path


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.3em .6em}
th{background:#f3f5f7}img{max-width:100%}code{background:#f3f5f7;padding:0 .2em}"""


def to_html(markdown_text: str, folder: Path, title: str) -> str:
    """A self-contained page (images inlined as data URIs): opens offline, can be mailed around."""
    import base64
    import re

    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables"])

    def inline(m: re.Match) -> str:
        path = folder / m.group(1)
        if not path.is_file():
            return m.group(0)
        return f'src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}"'

    body = re.sub(r'src="([^":]+\.png)"', inline, body)
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{_CSS}</style></head><body>{body}</body></html>\n"
