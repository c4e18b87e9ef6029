"""Typed adapter over pyverbs: the only package that imports pyverbs."""
