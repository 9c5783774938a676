"""Reports: report.md, report.html and plots, made from a run folder's result files only.

    build.py      build_document(run_dir) / build_report(run_dir): reads RunMetrics + jsonl files, writes files
    sections.py   one small function per section, from typed results to plain-text blocks (add yours here)
    document.py   the blocks (headings, paragraphs, lists, tables, images) holding text, never markup
    markdown.py   blocks -> report.md, every string escaped by physlora.untrusted.md_text / md_code
    html.py       blocks -> report.html, auto-escaping Jinja2 (templates/report.html), strict CSP
    plots.py      the PNG plots (matplotlib), labels through physlora.untrusted.plot_text
"""
