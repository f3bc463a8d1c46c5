"""One module per paper table or figure; each writes results/<paper>/<table>.{md,json} (and figures)."""
