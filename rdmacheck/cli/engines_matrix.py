"""The options `engines matrix` and `mooncake matrix` share (declared once; the run is cli/engines.run_matrix)."""

from __future__ import annotations

import typer

HOST = typer.Option(None, "--host", help="IP every side names itself by (default: the device's IPv4).")
ROUNDS = typer.Option(2, "--rounds", min=1, help="Restart and remove-readd cells: rounds after the first; simopen: "
                      "rounds (fresh engines).")
ENDPOINTS = typer.Option(2, "--endpoints", min=1, help="simopen: segments forced at once.")
RACE_TRIALS = typer.Option(6, "--race-trials", min=1, help="race: trials (two fresh engines each).")
RACE_THREADS = typer.Option(1, "--race-threads", min=1, help="race: write calls per engine at the instant.")
HANG_AFTER = typer.Option(5.0, "--hang-after", help="race: the watchdog in seconds.")
ANSWER_TIMEOUT = typer.Option(5.0, "--answer-timeout", help="simopen: seconds for the engine's answer.")
ENGINE_TRANSFER_TIMEOUT = typer.Option(5, "--engine-transfer-timeout", help="The engines' own limit on one transfer "
                                       "(Mooncake: MC_TRANSFER_TIMEOUT; NIXL: how long a transfer may stay in "
                                       "progress), seconds.")
ETCD = typer.Option(None, "--etcd", help="etcd for the etcd-restart cells, e.g. etcd://127.0.0.1:2379 (default: a "
                    "throwaway local etcd).")
