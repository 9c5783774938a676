"""report.html: a self-contained page (images inlined) built from the report document with Jinja2.

The environment auto-escapes and passes every printed value through physlora.untrusted.visible(), so the
page cannot contain markup from a run: the HTML is built from the data, not converted from report.md. A
Content-Security-Policy meta tag allows nothing but the page's own style sheet (by hash) and inlined images:
no script, no network, no forms.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from pathlib import Path

from physlora.report.document import Code, Document, Strong
from physlora.untrusted import visible

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.3em .6em}
th{background:#f3f5f7}img{max-width:100%}code{background:#f3f5f7;padding:0 .2em}
p,li{overflow-wrap:break-word}pre{background:#f3f5f7;padding:.5em;overflow-x:auto;white-space:pre-wrap}"""


def content_security_policy(css: str = CSS) -> str:
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode()
    return (f"default-src 'none'; style-src 'sha256-{digest}'; img-src data:; "
            "base-uri 'none'; form-action 'none'")


@lru_cache(maxsize=1)
def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined
    from markupsafe import Markup

    def finalize(value):
        return value if isinstance(value, Markup) or not isinstance(value, str) else visible(value)

    env = Environment(loader=PackageLoader("physlora.report", "templates"), autoescape=True, finalize=finalize,
                      undefined=StrictUndefined, keep_trailing_newline=True)
    # line breaks in data/model text are kept as <br>; each line is escaped by Markup.join
    env.filters["lines"] = lambda text: Markup("<br>").join(visible(text).split("\n"))
    env.filters["oneline"] = lambda text: visible(text).replace("\n", " ")
    env.tests["code_span"] = lambda part: isinstance(part, Code)
    env.tests["strong_span"] = lambda part: isinstance(part, Strong)
    return env


def _inline_images(doc: Document, folder: Path) -> dict[str, str]:
    """PNG files of the run folder as data URIs (the page opens offline and can be mailed around)."""
    images = {}
    for b in doc.blocks:
        if b.kind == "image" and (folder / b.file).is_file():
            images[b.file] = "data:image/png;base64," + base64.b64encode((folder / b.file).read_bytes()).decode()
    return images


def to_html(doc: Document, folder: Path) -> str:
    from markupsafe import Markup

    template = _environment().get_template("report.html")
    return template.render(doc=doc, images=_inline_images(doc, Path(folder)), css=Markup(CSS),
                           csp=content_security_policy())
