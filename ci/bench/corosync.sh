#!/usr/bin/env bash
# Corosync's peer-loss time, measured here as the peer of `make
# bench-failover`: two corosync 3 instances (Debian 12's package, knet,
# default timeouts, two_node quorum) in two network namespaces joined by a
# veth pair, each in a mount namespace of its own (corosync keeps a pid
# file under /run). RUNS times: SIGKILL one instance, and time until the
# other reports a one-node membership (corosync-quorumtool, polled every
# 20 ms); then start it again and wait for two members.
# Prints "corosync <median seconds> <max seconds>" on its last line.
set -euo pipefail
runs=${RUNS:-10}
if ! command -v corosync >/dev/null; then
  # The package would start a corosync on this host: forbid that for the install.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q corosync >/dev/null
  rm -f /usr/sbin/policy-rc.d
  trap - EXIT
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/lockstep-corosync.XXXXXX")
ns=(lockstep-cs0 lockstep-cs1)
addr=(198.51.100.1 198.51.100.2)
pids=(0 0)
cleanup() {
  for p in "${pids[@]}"; do [ "$p" != 0 ] && kill -9 "$p" 2>/dev/null || true; done
  for n in "${ns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
for i in 0 1; do ip netns add "${ns[$i]}"; ip -n "${ns[$i]}" link set lo up; done
ip -n "${ns[0]}" link add cs0 type veth peer name cs1 netns "${ns[1]}"
for i in 0 1; do
  ip -n "${ns[$i]}" addr add "${addr[$i]}/24" dev "cs$i"
  ip -n "${ns[$i]}" link set "cs$i" up
  mkdir -p "$work/n$i"
  cat >"$work/n$i/corosync.conf" <<CONF
totem {
  version: 2
  cluster_name: bench
  transport: knet
  crypto_cipher: none
  crypto_hash: none
}
nodelist {
  node {
    ring0_addr: ${addr[0]}
    nodeid: 1
    name: a
  }
  node {
    ring0_addr: ${addr[1]}
    nodeid: 2
    name: b
  }
}
quorum {
  provider: corosync_votequorum
  two_node: 1
}
logging {
  to_stderr: no
  to_syslog: no
  to_logfile: yes
  logfile: $work/n$i/corosync.log
  timestamp: hires
}
system {
  state_dir: $work/n$i
}
CONF
done

start() { # start instance $1 in the background, its pid in pids[$1]
  ip netns exec "${ns[$1]}" unshare -m --propagation private sh -c \
    "mount -t tmpfs none /run && exec corosync -f -c $work/n$1/corosync.conf" >>"$work/n$1/stdout" 2>&1 &
  pids[$1]=$!
}
members() { # the members instance $1 sees, 0 if it does not answer
  ip netns exec "${ns[$1]}" corosync-quorumtool -l 2>/dev/null | grep -cE '^ +[0-9]+ +[0-9]+ ' || true
}
wait_members() { # until instance $1 sees $2 members (60 s)
  for _ in $(seq 600); do [ "$(members "$1")" = "$2" ] && return 0; sleep 0.1; done
  echo "corosync: instance $1 never saw $2 members" >&2; tail -20 "$work/n$1/corosync.log" >&2; return 1
}

start 0; start 1
wait_members 1 2
times=()
for r in $(seq "$runs"); do
  v=$(( (r + 1) % 2 )); s=$(( r % 2 )) # alternate the victim
  t0=$(date +%s.%N)
  kill -9 "${pids[$v]}"; wait "${pids[$v]}" 2>/dev/null || true; pids[$v]=0
  until [ "$(members "$s")" = 1 ]; do sleep 0.02; done
  t1=$(date +%s.%N)
  times+=("$(echo "$t1 - $t0" | bc -l)")
  printf 'corosync run %d: instance %d killed, instance %d on its own after %.3fs\n' "$r" "$v" "$s" "${times[-1]}" >&2
  start "$v"
  wait_members "$s" 2
done
printf '%s\n' "${times[@]}" | sort -n | awk '{ t[NR] = $1 } END {
  m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
  printf "corosync %.3f %.3f\n", m, t[NR] }'
