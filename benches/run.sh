#!/usr/bin/env bash
# Side-by-side benchmark: drover vs ansible-playbook (fair and default settings) vs pyinfra,
# on the same provisioning workload (benches/workload), against fresh local Debian test hosts.
#
#   sudo bash benches/run.sh                 # SIZES="1 10 50"
#   SIZES="1 10" TOOLS="drover pyinfra" bash benches/run.sh
#
# Run by hand as root; not part of the test suite. For each N in $SIZES and each tool, brings
# up N fresh hosts (tests/hosts/testhosts.sh with a benchmark base that has python3 for
# Ansible), runs the tool twice (run 1 changes everything, run 2 must change nothing),
# measures each run with /usr/bin/time -v, counts the SSH connections and session channels
# the hosts' sshd logged, checks that every tool left the same files on every host, and
# prints a Markdown table per N (also written to benches/results/last.md).
#
# Environment:
#   SIZES, TOOLS                     what to run (defaults above / all four tools)
#   BENCH_VENV                       virtualenv with ansible + pyinfra (/opt/drover-bench-venv;
#                                    created with pip when missing)
#   DROVER                           drover binary (target/release/drover; built when missing)
#   DROVER_TESTHOSTS_CACHE           benchmark base cache (/var/cache/drover-bench-hosts)
#   DROVER_TESTHOSTS_RUN             running hosts (/tmp/drover-bench-hosts)
#   BENCH_PORT                       first sshd port (20000, below the kernel's ephemeral
#                                    range); host i listens on BENCH_PORT+i
#   KEEP_WORK=1                      keep the work directory (logs, manifests) after the run
#   DROVER_ARGS="--profile"          extra arguments for drover (e.g. a per-task time profile)
#   REPEAT                           how many times run 2 runs (3); its median is reported
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SIZES=${SIZES:-1 10 50}
REPEAT=${REPEAT:-3}
TOOLS=${TOOLS:-drover ansible-fair ansible-default pyinfra}

# shellcheck source=benches/lib.sh
. "$HERE/lib.sh"

# ---------------------------------------------------------------------------------------------

prereqs
bench_base
mkdir -p "$RESULTS"
ssh-keygen -q -t ed25519 -N '' -C drover-bench -f "$WORK/id" </dev/null
build_repo
REPORT="$WORK/report.md"
{
  echo "# drover benchmark"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores; drover $("$DROVER" --version 2>/dev/null | awk '{print $NF}'),"
  echo "ansible-core $("$VENV/bin/python" -c 'import ansible.release as r; print(r.__version__)'),"
  echo "pyinfra $("$VENV/bin/python" -c 'import pyinfra; print(pyinfra.__version__)' 2>/dev/null ||
                   "$VENV/bin/pyinfra" --version | awk '{print $NF}')."
  echo "Workload: benches/workload ($TASKS tasks incl. fact gathering, + 1 handler)."
  echo "Run 1 makes every change on fresh hosts; run 2 is the idempotent re-run, the median of $REPEAT."
  echo "CPU = user+sys of the tool and the children it waited for; peak RSS = largest single process."
  echo "sessions = SSH connections accepted per host; channels = session channels per host (/task = over $TASKS tasks)."
  echo "speedup = tool wall time / drover wall time for the same run."
} >"$REPORT"

for N in $SIZES; do
  D="$WORK/n$N"
  write_inventories "$N" "$D"
  declare -A WALL=()
  ROWS=()
  for tool in $TOOLS; do
    log "N=$N $tool: bringing up $N hosts"
    hosts_up "$N"
    for r in 1 2; do
      # Run 2 (idempotent, so repeatable) runs REPEAT times; the median one is reported.
      reps=1
      [ "$r" = 2 ] && reps=$REPEAT
      read -r c0 ch0 < <(ssh_counts)
      rc=0
      walls=()
      for k in $(seq 1 "$reps"); do
        log "N=$N $tool: run $r ($k of $reps)"
        rck=0
        run_tool "$tool" "$N" "$r" "$D" || rck=$?
        [ "$rck" = 0 ] || rc=$rck
        cp "$D/$tool-run$r.time" "$D/$tool-run$r.time.$k"
        cp "$D/$tool-run$r.log" "$D/$tool-run$r.log.$k"
        read -r w _ _ < <(time_stats "$D/$tool-run$r.time")
        walls+=("$w $k")
      done
      med=$(printf '%s\n' "${walls[@]}" | sort -n | awk -v n="$reps" 'NR == int((n + 1) / 2) { print $2 }')
      cp "$D/$tool-run$r.time.$med" "$D/$tool-run$r.time"
      cp "$D/$tool-run$r.log.$med" "$D/$tool-run$r.log"
      read -r c1 ch1 < <(ssh_counts)
      c1=$(( c0 + (c1 - c0) / reps )); ch1=$(( ch0 + (ch1 - ch0) / reps ))
      read -r wall cpu rss < <(time_stats "$D/$tool-run$r.time")
      chg=$(changed_count "$tool" "$D/$tool-run$r.log")
      if [ "$rc" != 0 ]; then
        log "N=$N $tool run $r exited $rc; last lines of its output:"
        tail -n 25 "$D/$tool-run$r.log" >&2
      fi
      WALL[$tool.$r]=$wall
      sess=$(awk -v a="$c1" -v b="$c0" -v n="$N" 'BEGIN { printf "%.1f", (a - b) / n }')
      chan=$(awk -v a="$ch1" -v b="$ch0" -v n="$N" 'BEGIN { printf "%.1f", (a - b) / n }')
      cpt=$(awk -v a="$ch1" -v b="$ch0" -v n="$N" -v t="$TASKS" 'BEGIN { printf "%.2f", (a - b) / n / t }')
      rssmb=$(awk -v k="$rss" 'BEGIN { printf "%.0f", k / 1024 }')
      ROWS+=("$tool|$r|$wall|$cpu|$rssmb|$sess|$chan|$cpt|$chg|$rc")
    done
    mkdir -p "$D/manifest-$tool"
    for h in "${UP_HOSTS[@]}"; do
      manifest "$DROVER_TESTHOSTS_RUN/$h/upper" "$BASE" >"$D/manifest-$tool/$h"
    done
    cp "$DROVER_TESTHOSTS_RUN/bench-1/sshd.log" "$D/$tool-bench-1-sshd.log" 2>/dev/null || true
    hosts_down
  done

  {
    echo
    echo "## N = $N hosts"
    echo
    echo "| tool | run | wall s | CPU s | peak RSS MB | sessions/host | channels/host | channels/task/host | changed | exit | drover speedup |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for row in "${ROWS[@]}"; do
      IFS='|' read -r tool r wall cpu rssmb sess chan cpt chg rc <<<"$row"
      dw=${WALL[drover.$r]:-}
      if [ "$tool" = drover ] || [ -z "$dw" ]; then sp="—"; else
        sp=$(awk -v a="$wall" -v b="$dw" 'BEGIN { if (b > 0) printf "%.1f×", a / b; else print "—" }'); fi
      echo "| $tool | $r | $wall | $cpu | $rssmb | $sess | $chan | $cpt | $chg | $rc | $sp |"
    done
    echo
    # Same final state: every tool's hosts against drover's (or the first tool's).
    ref=""
    for tool in $TOOLS; do ref=${ref:-$tool}; done
    case " $TOOLS " in *" drover "*) ref=drover ;; esac
    same=1
    for tool in $TOOLS; do
      [ "$tool" = "$ref" ] && continue
      for f in "$D/manifest-$ref"/*; do
        h=${f##*/}
        if ! diff -q "$D/manifest-$ref/$h" "$D/manifest-$tool/$h" >/dev/null; then
          same=0
          echo "Final state of $h differs, $ref (<) vs $tool (>):"
          echo
          echo '```'
          { diff "$D/manifest-$ref/$h" "$D/manifest-$tool/$h" || true; } | grep '^[<>]' | head -n 40 || true
          echo '```'
          echo
          break
        fi
      done
    done
    if [ "$same" = 1 ]; then
      echo "Final host state: identical for $(echo "$TOOLS" | wc -w) tools on all $N hosts ($(wc -l <"$D/manifest-$ref/bench-1") changed paths per host)."
    fi
  } >>"$REPORT"
  unset WALL
  cp "$REPORT" "$RESULTS/last.md"
  sed -n "/^## N = $N hosts\$/,\$p" "$REPORT"
done


log "results written to $RESULTS/last.md"
