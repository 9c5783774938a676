"""`physlora serve`: the local page comparing base and fine-tuned answers (app + static page files)."""
