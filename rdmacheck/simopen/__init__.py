"""Simultaneous open: endpoints created on demand from both sides at once."""
