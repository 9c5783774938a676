"""Text from run folders, data sets and configs placed in a markdown table cell: it must stay one cell and
never become markup (report.html is rendered from the markdown, and the markdown library passes raw HTML
through)."""

from __future__ import annotations

import html


def md_cell(text: object) -> str:
    """`text` as one inert markdown table cell: HTML-escaped, pipes escaped, on one line."""
    flat = " ".join(str(text).split())
    return html.escape(flat, quote=True).replace("|", "\\|")
