"""Role processes (target, initiator): long-lived, JSON-lines events on stdout, logs on stderr."""
