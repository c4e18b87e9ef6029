"""Wire protocol between roles: framing, messages, validation, client and server."""
