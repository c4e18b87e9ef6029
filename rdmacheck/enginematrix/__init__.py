"""`rdmacheck engines matrix` (and `mooncake matrix`, its Mooncake preset): real transfer engines x releases x
scenarios. plan.py (the plan and which scenarios apply to which engine), cells.py (one cell runner per
engine kind and scenario), run.py, result.py, expected.py (the measured expectations), render.py."""
