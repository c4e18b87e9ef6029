"""Driving role processes: the pexpect launcher and the local restart runner."""
