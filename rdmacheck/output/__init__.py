"""The small shared output kernel: consoles, atomic files, JUnit / T-one / Prometheus writers and
the Outcome protocol they are written against. It imports no feature: each feature package owns
its own plan, run, result and renderer."""
