"""Inference for a registered model: loading it, attribution to stages, advice, explanation records and their schema."""
