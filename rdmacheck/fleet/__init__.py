"""Fleet mode: many hosts, each pair a cell. Pure parts so far: the schedule and the isolation logic."""
