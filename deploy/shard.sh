#!/bin/sh
# One shard of a drover run, as each worker of a job engine runs it: the Kubernetes Indexed Job,
# the GitHub Actions matrix and the GitLab `parallel:` job in this directory all call it.
#
#   shard.sh [drover play arguments: -i INVENTORY PLAYBOOK ...]
#
# Which shard this worker is comes from the first of:
#   DROVER_SHARD=I/N                    set by hand (0 <= I < N)
#   JOB_COMPLETION_INDEX + SHARDS=N     a Kubernetes Indexed Job (the index is 0-based)
#   CI_NODE_INDEX + CI_NODE_TOTAL       GitLab `parallel:` (the index is 1-based)
#   SHARD_INDEX + SHARDS=N              anything else, e.g. a GitHub Actions matrix
# The shard's JSON event stream goes to $STREAMS/shard-I.jsonl (STREAMS defaults to
# ./streams); `drover report merge $STREAMS/*.jsonl` turns the streams into one recap.
#
# Exit code: 0 when drover ran the play to its end, whatever the hosts' results (a failed or
# unreachable host is in the stream, and the merge's exit code says so); drover's own code
# otherwise (1 error, 5 bad input, 99 interrupted), so the engine can retry the worker or
# give up. A worker killed halfway leaves a stream cut short, which the merge reports.
set -u

if [ -z "${DROVER_SHARD:-}" ]; then
  if [ -n "${JOB_COMPLETION_INDEX:-}" ] && [ -n "${SHARDS:-}" ]; then
    DROVER_SHARD="$JOB_COMPLETION_INDEX/$SHARDS"
  elif [ -n "${CI_NODE_INDEX:-}" ] && [ -n "${CI_NODE_TOTAL:-}" ]; then
    DROVER_SHARD="$((CI_NODE_INDEX - 1))/$CI_NODE_TOTAL"
  elif [ -n "${SHARD_INDEX:-}" ] && [ -n "${SHARDS:-}" ]; then
    DROVER_SHARD="$SHARD_INDEX/$SHARDS"
  else
    echo "shard.sh: which shard? set DROVER_SHARD=I/N (or SHARD_INDEX and SHARDS)" >&2
    exit 5
  fi
fi
export DROVER_SHARD

streams=${STREAMS:-streams}
mkdir -p "$streams" || exit 1
stream="$streams/shard-${DROVER_SHARD%/*}.jsonl"

# The stream is written as the run goes: a worker that dies leaves what it reported.
"${DROVER:-drover}" play --output json "$@" >"$stream"
rc=$?
echo "shard $DROVER_SHARD: drover exited $rc; stream $stream" >&2
case $rc in
  0 | 2 | 4) exit 0 ;;
  *) exit "$rc" ;;
esac
