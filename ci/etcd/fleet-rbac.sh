#!/usr/bin/env bash
# A locked-down etcd for fleet runs: etcd's own role-based access control, so that each agent can
# write only under its own host's keys (rdmacheck/<run>/fleet/host/<host>/) and only the coordinator
# under the control keys and the round's pairs (rdmacheck/<run>/fleet/ctl/, fleet/plan/). Everyone of the
# run may read the run's keys.
#
#   ETCDCTL_ENDPOINTS=10.0.0.5:2379 ci/etcd/fleet-rbac.sh RUN ROOT_PASSWORD COORDINATOR_PASSWORD HOST:PASSWORD...
#
# Then: the coordinator runs with `--etcd-user coordinator` and each agent with `--etcd-user <host>`
# (passwords in $RDMACHECK_ETCD_PASSWORD; TLS with --etcd-ca/--etcd-cert/--etcd-key as the site
# requires). The key prefix is $RDMACHECK_ETCD_PREFIX (default rdmacheck/, as --etcd-prefix).
# Idempotent for the run's users and roles; turns etcd's authentication on (root is then required for
# any change of users and roles).
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 RUN ROOT_PASSWORD COORDINATOR_PASSWORD HOST:PASSWORD..." >&2; exit 2; }
run=$1 rootpw=$2 coordpw=$3
shift 3
prefix=${RDMACHECK_ETCD_PREFIX:-rdmacheck/}
base="${prefix}${run}/fleet/"
export ETCDCTL_API=3

if etcdctl user list >/dev/null 2>&1; then  # answers without credentials only while auth is off
  etcdctl user get root >/dev/null 2>&1 || etcdctl user add root --new-user-password="$rootpw" --interactive=false >/dev/null
  etcdctl role get root >/dev/null 2>&1 || etcdctl role add root >/dev/null
  etcdctl user grant-role root root >/dev/null
  etcdctl auth enable >/dev/null
fi
as_root=(--user "root:$rootpw")

user() {  # name password role: the user, its role, and nothing else
  etcdctl "${as_root[@]}" role get "$3" >/dev/null 2>&1 || etcdctl "${as_root[@]}" role add "$3" >/dev/null
  etcdctl "${as_root[@]}" user get "$1" >/dev/null 2>&1 ||
    etcdctl "${as_root[@]}" user add "$1" --new-user-password="$2" --interactive=false >/dev/null
  etcdctl "${as_root[@]}" user grant-role "$1" "$3" >/dev/null
}

user coordinator "$coordpw" "fleet-$run-coordinator"
etcdctl "${as_root[@]}" role grant-permission "fleet-$run-coordinator" --prefix=true readwrite "${prefix}${run}/" >/dev/null
for hp in "$@"; do
  host=${hp%%:*} pw=${hp#*:}
  user "$host" "$pw" "fleet-$run-agent-$host"
  etcdctl "${as_root[@]}" role grant-permission "fleet-$run-agent-$host" --prefix=true read "$base" >/dev/null
  etcdctl "${as_root[@]}" role grant-permission "fleet-$run-agent-$host" --prefix=true readwrite "${base}host/$host/" >/dev/null
done
echo "fleet-rbac: run $run: coordinator and ${#@} agent user(s); authentication on"
