"""Host diagnostics with fix hints (`rdmacheck doctor`)."""
