"""Results model, verdict rules and renderers (rich, JSON)."""
