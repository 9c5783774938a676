"""Reports: report.md, report.html and plots, made from a run folder's result files only."""
