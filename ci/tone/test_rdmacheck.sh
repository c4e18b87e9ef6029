#!/bin/bash
# T-one test: rdmacheck's re-establishment matrix between two RDMA NICs of one host (the
# eRDMA servers: target on erdma_0, initiator on erdma_1). T-one sources this file and calls
# run_test, then parse; run directly (bash test_rdmacheck.sh) it does both.
#
# Environment (all optional):
#   RDMACHECK_TARGET_DEVICE     target NIC            (erdma_0)
#   RDMACHECK_INITIATOR_DEVICE  initiator NIC         (erdma_1)
#   RDMACHECK_GID_INDEX         GID index on both     (rdmacheck picks a RoCE v2 GID with an IP)
#   RDMACHECK_MODES             oob,cm,auto           (auto)
#   RDMACHECK_STRATEGIES        reset,recreate        (reset,recreate)
#   RDMACHECK_RESTART           initiator,target      (initiator,target)
#   RDMACHECK_ROUNDS            restart rounds/cell   (3)
#   RDMACHECK_LENGTH            bytes per round       (256MiB, the seed test's size)
#   RDMACHECK_HOME              rdmacheck checkout    (two levels above this file)
#   RDMACHECK_LAB               1 = run inside the Soft-RDMA lab (hosts without RDMA NICs)
test_case_name="rdmacheck-reestablish"
TEST_TYPE="functional"

_rc_home() { echo "${RDMACHECK_HOME:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"; }
_rc_logs() { echo "${TONE_LOG_DIR:-$(_rc_home)/run/logs/$test_case_name}"; }

_rc_list() {  # "a,b" -> ["a", "b"]
  local out="" x
  IFS=',' read -ra xs <<< "$1"
  for x in "${xs[@]}"; do out+="${out:+, }\"$x\""; done
  echo "[$out]"
}

run_test() {
  local home logs sc
  home=$(_rc_home); logs=$(_rc_logs)
  mkdir -p "$logs"
  [ -x "$home/.venv/bin/rdmacheck" ] || "$home/scripts/setup.sh" $([ "${RDMACHECK_LAB:-0}" = 1 ] || echo --no-lab)
  sc="$logs/scenario.toml"
  cat > "$sc" <<TOML
[scenario]
name = "$test_case_name"
description = "T-one: target on ${RDMACHECK_TARGET_DEVICE:-erdma_0}, initiator on ${RDMACHECK_INITIATOR_DEVICE:-erdma_1}"
[grid]
devices = ["${RDMACHECK_INITIATOR_DEVICE:-erdma_1}"]
target_devices = ["${RDMACHECK_TARGET_DEVICE:-erdma_0}"]
modes = $(_rc_list "${RDMACHECK_MODES:-auto}")
strategies = $(_rc_list "${RDMACHECK_STRATEGIES:-reset,recreate}")
restart = $(_rc_list "${RDMACHECK_RESTART:-initiator,target}")
[run]
rounds = ${RDMACHECK_ROUNDS:-3}
length = "${RDMACHECK_LENGTH:-256MiB}"
buffer_size = "${RDMACHECK_LENGTH:-256MiB}"
${RDMACHECK_GID_INDEX:+gid_index = $RDMACHECK_GID_INDEX}
[timeouts]
round = 300
io = 240
[[expect]]
provider = "erdma"
strategy = "reset"
verdict = "FAIL"
findings = ["silent-reset", "reuse-silent-loss"]
reason = "eRDMA (iWARP): reset-only re-establishment does not carry data"
[[expect]]
provider = "siw"
strategy = "reset"
verdict = "FAIL"
findings = ["reuse-refused", "write-stalled"]
reason = "iWARP: a reset QP cannot be reused"
TOML
  local lab=(); [ "${RDMACHECK_LAB:-0}" = 1 ] && lab=(--lab)
  "$home/.venv/bin/rdmacheck" run "$sc" "${lab[@]}" --plain --json "$logs/results.json" \
      --junit "$logs/junit.xml" --tone "$logs/cells" 2>&1 | tee "$logs/rdmacheck.log"
  echo "${PIPESTATUS[0]}" > "$logs/exit_code"
}

parse() {  # -> run/logs/<test>/test_results.json = {"test_case", "status", "timestamp"}
  local logs status
  logs=$(_rc_logs)
  status=Fail; [ "$(cat "$logs/exit_code" 2>/dev/null)" = 0 ] && status=Pass
  printf '{"test_case": "%s", "status": "%s", "timestamp": "%s"}\n' "$test_case_name" "$status" \
      "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$logs/test_results.json"
  cat "$logs/test_results.json"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  run_test
  parse
  grep -q '"Pass"' "$(_rc_logs)/test_results.json"
fi
