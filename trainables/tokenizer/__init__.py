"""MAM2's appearance target needs a vector-quantised tokenizer; VQGAN weights cannot be
downloaded here, so maskray trains a small one on the study's own training split."""
