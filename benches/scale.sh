#!/usr/bin/env bash
# One controller, many hosts: drover alone runs the benchmark workload (benches/workload) on N
# fresh local test hosts (default 1,000) and the report says whether the idempotent run keeps
# its pace per host and task against a small run (N_SMALL, default 10) on the same machine,
# what the controller's peak memory and open file descriptors were, and that every host's
# result came back.
#
#   sudo bash benches/scale.sh                    # N=1000 N_SMALL=10 FORKS=100
#   N=300 sudo -E bash benches/scale.sh
#
# Run by hand as root; not part of the test suite. Each size: hosts up, run 1 (every change),
# run 2 (idempotent, must change nothing), each under /usr/bin/time -v while the controller's
# open descriptors are sampled every 50 ms; then the hosts go. Writes
# benches/results/scale-last.md (N=0 skips the test hosts) and the local part to
# benches/results/scale-local-last.md. Environment: as run.sh (DROVER, BENCH_PORT, KEEP_WORK,
# DROVER_ARGS), plus N, N_SMALL, FORKS (drover's -f for the large run; the small run uses
# -f N_SMALL as run.sh does) and UP_JOBS (hosts started at once, 8).
#
# Then the executor's own bookkeeping, without test hosts: an inventory of LOCAL (10,000)
# hosts over the local connection, `--list-hosts` (load, checks, planning) timed, and a play
# that writes into a directory per host run with -f FORKS: wall time, peak RSS, and every
# host's file and recap line checked.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
N=${N:-1000}
N_SMALL=${N_SMALL:-10}
FORKS=${FORKS:-100}
NEED_VENV=0

# shellcheck source=benches/lib.sh
. "$HERE/lib.sh"

# Runs drover on the hosts in $1 with forks $2; writes $3.{log,time,fds}: the output, time -v,
# and the largest number of descriptors the controller held open at once.
timed_run() { # dir forks out
  local d=$1 f=$2 out=$3 pid max=0 n
  /usr/bin/time -v -o "$out.time" "$DROVER" play -i "$d/inventory.ini" "$WORKLOAD/site.yml" \
    -f "$f" --known-hosts "$d/known_hosts_drover" --host-key-checking accept-new \
    ${DROVER_ARGS:-} >"$out.log" 2>&1 &
  local timer=$!
  while kill -0 "$timer" 2>/dev/null; do
    pid=$(pgrep -P "$timer" -x drover || true)
    if [ -n "$pid" ]; then
      n=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
      [ "$n" -gt "$max" ] && max=$n
    fi
    sleep 0.05
  done
  echo "$max" >"$out.fds"
  wait "$timer"
}

# From a run's recap: "hosts ok changed unreachable failed" (sums over hosts).
recap_sums() { # log
  grep -E '^[^ ].* : ok=[0-9]+ ' "$1" |
    sed -E 's/.*ok=([0-9]+) +changed=([0-9]+) +unreachable=([0-9]+) +failed=([0-9]+).*/\1 \2 \3 \4/' |
    awk '{ n++; o += $1; c += $2; u += $3; f += $4 } END { printf "%d %d %d %d %d\n", n, o, c, u, f }'
}

prereqs
bench_base
mkdir -p "$RESULTS"
ssh-keygen -q -t ed25519 -N '' -C drover-bench -f "$WORK/id" </dev/null
build_repo
ulimit -n "$(ulimit -Hn)"

declare -A PER=()
ROWS=()
SIZES_RUN="$N_SMALL $N"
[ "$N" = 0 ] && SIZES_RUN=""
for n in $SIZES_RUN; do
  d="$WORK/n$n"
  write_inventories "$n" "$d"
  forks=$FORKS
  [ "$n" = "$N_SMALL" ] && forks=$n
  log "N=$n: bringing up $n hosts"
  started=$(date +%s)
  hosts_up "$n"
  log "N=$n: hosts up in $(( $(date +%s) - started )) s"
  for r in 1 2; do
    log "N=$n: run $r"
    rc=0
    timed_run "$d" "$forks" "$d/run$r" || rc=$?
    read -r wall cpu rss < <(time_stats "$d/run$r.time")
    read -r hosts _ok chg unr fail < <(recap_sums "$d/run$r.log")
    fds=$(cat "$d/run$r.fds")
    per=$(awk -v w="$wall" -v n="$n" -v t="$TASKS" 'BEGIN { printf "%.2f", w * 1000 / (n * t) }')
    PER[$n.$r]=$per
    ROWS+=("$n|$forks|$r|$wall|$cpu|$(awk -v k="$rss" 'BEGIN { printf "%.0f", k / 1024 }')|$fds|$per|$hosts|$chg|$unr|$fail|$rc")
    if [ "$rc" != 0 ]; then
      log "N=$n run $r exited $rc; last lines:"
      tail -n 20 "$d/run$r.log" >&2
    fi
  done
  free_mb=$(awk '/MemAvailable/ { printf "%d", $2 / 1024 }' /proc/meminfo)
  log "N=$n: $free_mb MB of memory available with the hosts up"
  hosts_down
done

# The executor at LOCAL hosts over the local connection.
LOCAL=${LOCAL:-10000}
ld="$WORK/local"
mkdir -p "$ld/out"
{
  echo "[fleet]"
  for i in $(seq 1 "$LOCAL"); do echo "node$i"; done
  echo "[fleet:vars]"
  echo "ansible_connection=local"
} >"$ld/hosts.ini"
cat >"$ld/site.yml" <<YAML
- hosts: fleet
  gather_facts: false
  tasks:
    - name: A directory per host
      file:
        path: "$ld/out/{{ inventory_hostname }}"
        state: directory
    - name: A file in it
      copy:
        dest: "$ld/out/{{ inventory_hostname }}/id"
        content: "{{ inventory_hostname }}\n"
YAML
log "LOCAL=$LOCAL: --list-hosts"
/usr/bin/time -v -o "$ld/list.time" "$DROVER" play -i "$ld/hosts.ini" "$ld/site.yml" --list-hosts >"$ld/list.log"
read -r lwall _ lrss < <(time_stats "$ld/list.time")
listed=$(grep -c '^      node' "$ld/list.log" || true)
log "LOCAL=$LOCAL: run"
lrc=0
/usr/bin/time -v -o "$ld/run.time" "$DROVER" play -i "$ld/hosts.ini" "$ld/site.yml" -f "$FORKS" >"$ld/run.log" 2>&1 || lrc=$?
read -r rwall rcpu rrss < <(time_stats "$ld/run.time")
read -r lhosts _ lchg lunr lfail < <(recap_sums "$ld/run.log")
files=$(find "$ld/out" -name id | wc -l)

REPORT="$RESULTS/scale-last.md"
[ "$N" = 0 ] || {
  echo "# drover at scale"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(awk '/MemTotal/ { printf "%d", $2 / 1048576 }' /proc/meminfo) GiB;"
  echo "drover $("$DROVER" --version | awk '{print $NF}'). Workload: benches/workload ($TASKS tasks incl."
  echo "fact gathering); every host is a fresh local test host (its own sshd, overlay root and"
  echo "namespaces) on this same machine, so the hosts' own work shares the 2 cores with drover."
  echo "ms/host-task = wall time / (hosts × tasks); fds = most descriptors drover held at once."
  echo
  echo "| hosts | forks | run | wall s | CPU s | peak RSS MB | fds | ms/host-task | recap hosts | changed | unreachable | failed | exit |"
  echo "| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |"
  for row in "${ROWS[@]}"; do
    IFS='|' read -r n f r wall cpu rss fds per hosts chg unr fail rc <<<"$row"
    echo "| $n | $f | $r | $wall | $cpu | $rss | $fds | $per | $hosts | $chg | $unr | $fail | $rc |"
  done
  echo
  ratio=$(awk -v a="${PER[$N.2]}" -v b="${PER[$N_SMALL.2]}" 'BEGIN { printf "%.2f", a / b }')
  echo "Idempotent run: ${PER[$N.2]} ms per host and task at N = $N against ${PER[$N_SMALL.2]} at"
  echo "N = $N_SMALL: ${ratio}× (the bound is 2×)."
} >"$REPORT"
[ "$N" = 0 ] || cat "$REPORT"
REPORT_LOCAL="$RESULTS/scale-local-last.md"
{
  echo "# drover's executor at $LOCAL local hosts"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores; drover $("$DROVER" --version | awk '{print $NF}')."
  echo
  echo "$LOCAL hosts over the local connection (no test hosts): \`--list-hosts\` listed $listed hosts in"
  echo "$lwall s, peak RSS $(awk -v k="$lrss" 'BEGIN { printf "%.0f", k / 1024 }') MB; a two-task play into a directory per host with -f $FORKS"
  echo "took $rwall s (CPU $rcpu s), peak RSS $(awk -v k="$rrss" 'BEGIN { printf "%.0f", k / 1024 }') MB, exit $lrc: $lhosts hosts in the recap, $lchg"
  echo "changes, $lunr unreachable, $lfail failed; $files of $LOCAL files written."
} >"$REPORT_LOCAL"
cat "$REPORT_LOCAL"
log "results written to $RESULTS/scale-last.md and $REPORT_LOCAL"
