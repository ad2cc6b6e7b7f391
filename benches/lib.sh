# The parts of the benchmarks that run.sh (tools side by side) and scale.sh (one tool, many
# hosts) share: prerequisites, the benchmark base, the local apt repository, the hosts, the
# tools' runs and the parsing of their output. Sourced once the caller has set HERE (the
# benches directory).
REPO=$(dirname "$HERE")
TESTHOSTS="$REPO/tests/hosts/testhosts.sh"
WORKLOAD="$HERE/workload"
VENV=${BENCH_VENV:-/opt/drover-bench-venv}
DROVER=${DROVER:-$REPO/target/release/drover}
BENCH_PORT=${BENCH_PORT:-20000}
NORMAL_CACHE=/var/cache/drover-testhosts
export DROVER_TESTHOSTS_CACHE=${DROVER_TESTHOSTS_CACHE:-/var/cache/drover-bench-hosts}
export DROVER_TESTHOSTS_RUN=${DROVER_TESTHOSTS_RUN:-/tmp/drover-bench-hosts}
BASE="$DROVER_TESTHOSTS_CACHE/base-bookworm"
RESULTS="$HERE/results"
# Tasks per run: the role's tasks plus the play's fact gathering (the handler is not counted).
TASKS=$(( $(grep -c '^- name:' "$WORKLOAD/roles/bench/tasks/main.yml") + 1 ))
die() { echo "bench: $*" >&2; exit 1; }
log() { echo "[$(date +%T)] $*" >&2; }

[ "$(id -u)" = 0 ] || die "run me as root (the test hosts need it)"

WORK=$(mktemp -d /tmp/drover-bench.XXXXXX)
UP_HOSTS=()
cleanup() {
  [ "${#UP_HOSTS[@]}" -eq 0 ] || hosts_down
  if [ "${KEEP_WORK:-0}" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------
# Prerequisites

need_deb() { # command package
  command -v "$1" >/dev/null 2>&1 && return 0
  log "installing $2"
  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null
}

prereqs() {
  [ -x /usr/bin/time ] || { log "installing time"; apt-get update -q >/dev/null;
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null; }
  need_deb dpkg-scanpackages dpkg-dev
  need_deb debootstrap debootstrap
  need_deb python3 python3
  need_deb ssh-keygen openssh-client
  need_deb unshare util-linux
  if [ "${NEED_VENV:-1}" = 1 ] && { [ ! -x "$VENV/bin/ansible-playbook" ] || [ ! -x "$VENV/bin/pyinfra" ]; }; then
    need_deb pip3 python3-pip
    python3 -c 'import venv, ensurepip' 2>/dev/null || need_deb false python3-venv
    log "creating $VENV with ansible and pyinfra"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q ansible pyinfra
  fi
  if [ ! -x "$DROVER" ]; then
    log "building drover (release)"
    (cd "$REPO" && cargo build --release)
  fi
}


# The benchmark base: the test hosts' base plus python3 (Ansible needs it on the targets;
# python3-apt for its apt module, which would otherwise try to install it from the network).
bench_base() {
  if [ -f "$BASE/.drover-base-ok" ] && [ -x "$BASE/usr/bin/python3" ]; then
    touch -d '2 days ago' "$BASE/var/lib/apt/lists"
    return 0
  fi
  log "building the benchmark base $BASE"
  DROVER_TESTHOSTS_CACHE=$NORMAL_CACHE bash "$TESTHOSTS" base
  mkdir -p "$DROVER_TESTHOSTS_CACHE"
  local tmp="$BASE.tmp.$$" m
  m=$(bash "$TESTHOSTS" mirror)
  rm -rf "$tmp"
  cp -a "$NORMAL_CACHE/base-bookworm" "$tmp"
  cp "$tmp/etc/resolv.conf" "$WORK/resolv.conf.base" 2>/dev/null || true
  cp /etc/resolv.conf "$tmp/etc/resolv.conf"
  echo "deb $m bookworm main" >"$tmp/etc/apt/sources.list.d/drover-bench-tmp.list"
  mount -t proc proc "$tmp/proc"
  local rc=0
  {
    chroot "$tmp" env DEBIAN_FRONTEND=noninteractive apt-get -q \
      -o Acquire::Check-Valid-Until=false -o Acquire::Languages=none update &&
    chroot "$tmp" env DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends \
      install python3-minimal python3 python3-apt &&
    chroot "$tmp" apt-get clean
  } >"$DROVER_TESTHOSTS_CACHE/bench-base.log" 2>&1 || rc=$?
  umount "$tmp/proc"
  rm -f "$tmp/etc/apt/sources.list.d/drover-bench-tmp.list"
  rm -rf "$tmp"/var/lib/apt/lists/*
  if [ -f "$WORK/resolv.conf.base" ]; then cp "$WORK/resolv.conf.base" "$tmp/etc/resolv.conf"; fi
  if [ "$rc" != 0 ]; then
    rm -rf "$tmp"
    die "installing python3 into the benchmark base failed; see $DROVER_TESTHOSTS_CACHE/bench-base.log"
  fi
  # An apt cache that looks fresh would make `cache_valid_time` skip the first update.
  rm -f "$tmp/var/lib/apt/periodic/update-success-stamp"
  touch -d '2 days ago' "$tmp/var/lib/apt/lists"
  [ -f "$tmp/.drover-base-ok" ] || touch "$tmp/.drover-base-ok"
  rm -rf "$BASE"
  mv "$tmp" "$BASE"
}

# The local apt repository with the benchmark's one tiny package.
build_repo() {
  local pkg="$WORK/pkg" repo="$WORK/repo"
  mkdir -p "$pkg/DEBIAN" "$pkg/usr/bin" "$repo"
  cat >"$pkg/DEBIAN/control" <<'EOF'
Package: drover-bench-pkg
Version: 1.0
Section: misc
Priority: optional
Architecture: all
Maintainer: drover benchmark <bench@example.invalid>
Description: drover benchmark package
 A tiny package installed by the benchmark workload.
EOF
  cat >"$pkg/usr/bin/drover-bench-init" <<'EOF'
#!/bin/sh
# drover-bench-init FILE: writes the benchmark's initialisation marker.
set -e
echo "initialised by drover-bench-pkg 1.0" >"$1"
EOF
  chmod 0755 "$pkg/usr/bin/drover-bench-init"
  dpkg-deb --root-owner-group -Zgzip --build "$pkg" "$repo/drover-bench-pkg_1.0_all.deb" >/dev/null
  (cd "$repo" && dpkg-scanpackages -m . /dev/null >Packages 2>/dev/null)
  chmod -R a+rX "$repo"
}

# ---------------------------------------------------------------------------------------------
# Hosts

# Host `bench-I`: started, with the benchmark's apt repository in it.
host_up() { # I
  local name="bench-$1" root
  bash "$TESTHOSTS" down "$name" >/dev/null 2>&1 || true
  bash "$TESTHOSTS" up "$name" $((BENCH_PORT + $1)) "$WORK/id.pub" >/dev/null
  root=$(bash "$TESTHOSTS" root "$name")
  mkdir -p "$root/srv/drover-repo"
  cp -a "$WORK/repo/." "$root/srv/drover-repo/"
  echo "deb [trusted=yes] file:/srv/drover-repo ./" >"$root/etc/apt/sources.list.d/drover-bench.list"
}

# Hosts bench-1 .. bench-N, started UP_JOBS (8) at a time: each start is mostly waiting.
hosts_up() { # N
  local n=$1 i
  UP_HOSTS=()
  for i in $(seq 1 "$n"); do UP_HOSTS+=("bench-$i"); done
  export -f host_up
  export TESTHOSTS WORK BENCH_PORT DROVER_TESTHOSTS_CACHE DROVER_TESTHOSTS_RUN
  seq 1 "$n" | xargs -P "${UP_JOBS:-8}" -I{} bash -c 'host_up "$1"' _ {} ||
    die "some of the $n hosts did not start"
}

hosts_down() {
  printf '%s\n' "${UP_HOSTS[@]}" | xargs -r -P "${UP_JOBS:-8}" -I{} bash "$TESTHOSTS" down {} >/dev/null 2>&1 || true
  UP_HOSTS=()
}

write_inventories() { # N dir
  local n=$1 d=$2 i
  mkdir -p "$d"
  {
    echo "[bench]"
    for i in $(seq 1 "$n"); do echo "bench-$i ansible_port=$((BENCH_PORT + i))"; done
    echo
    echo "[bench:vars]"
    echo "ansible_host=127.0.0.1"
    echo "ansible_user=root"
    echo "ansible_ssh_private_key_file=$WORK/id"
    echo "ansible_python_interpreter=/usr/bin/python3"
  } >"$d/inventory.ini"
  # Ansible: the same, and no writes to root's ~/.ssh/known_hosts (host keys change per run).
  { cat "$d/inventory.ini"; echo "ansible_ssh_extra_args='-o UserKnownHostsFile=/dev/null'"; } \
    >"$d/inventory-ansible.ini"
  {
    echo "bench = ["
    for i in $(seq 1 "$n"); do
      echo "    (\"bench-$i\", {\"ssh_hostname\": \"127.0.0.1\", \"ssh_port\": $((BENCH_PORT + i)),"
      echo "      \"ssh_user\": \"root\", \"ssh_key\": \"$WORK/id\","
      echo "      \"ssh_known_hosts_file\": \"$d/known_hosts_pyinfra\", \"ssh_strict_host_key_checking\": \"off\"}),"
    done
    echo "]"
  } >"$d/inventory_pyinfra.py"
  cat >"$d/ansible-fair.cfg" <<EOF
[defaults]
forks = $n
host_key_checking = False
gathering = explicit
stdout_callback = default

[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=60s
EOF
  cat >"$d/ansible-default.cfg" <<EOF
[defaults]
forks = 5
host_key_checking = False
EOF
}

# Counts of sshd log lines: "connections channels" over all hosts.
ssh_counts() {
  local c=0 ch=0 h f a b
  for h in "${UP_HOSTS[@]}"; do
    f="$DROVER_TESTHOSTS_RUN/$h/sshd.log"
    a=$(grep -c 'Accepted publickey' "$f" || true)
    b=$(grep -c 'server_input_channel_open: ctype session' "$f" || true)
    c=$((c + a)); ch=$((ch + b))
  done
  echo "$c $ch"
}

# Ends the ssh ControlPersist masters Ansible left (so each run starts cold).
close_masters() { # dir
  local s
  for s in "$1"/*; do
    [ -S "$s" ] || continue
    ssh -o ControlPath="$s" -O exit bench >/dev/null 2>&1 || true
  done
}

# Effective file changes of a host (upper dir vs the base), one line per path:
# type mode uid:gid sha1-or-link-target path. Excludes logs, caches, temp and per-host keys.
manifest() { # upper lower
  python3 - "$1" "$2" <<'EOF'
import hashlib, os, re, stat, sys
upper, lower = sys.argv[1], sys.argv[2]
skip = re.compile(r"^(tmp|run|proc|dev|var/log|var/cache|var/lib/apt/lists|root/\.ansible"
                  r"|var/lib/apt/periodic|home/[^/]+/\.ansible|etc/ssh/ssh_host_[^/]*)(/|$)"
                  r"|^var/lib/dpkg/[^/]*-old$|\.pyc$|/__pycache__(/|$)|pyinfra")
def desc(p):
    st = os.lstat(p)
    m = st.st_mode
    if stat.S_ISCHR(m) and st.st_rdev == 0:
        return "deleted"
    if stat.S_ISLNK(m):
        kind, extra = "l", "-> " + os.readlink(p)
    elif stat.S_ISDIR(m):
        kind, extra = "d", ""
    elif stat.S_ISREG(m):
        with open(p, "rb") as f:
            data = f.read()
        if re.search(r"(^|/)etc/init\.d/\.depend\.[a-z]+$", p):
            # insserv's order of independent scripts varies with how update-rc.d was called.
            data = b"\n".join(sorted(b" ".join(sorted(l.split())) for l in data.splitlines()))
        kind, extra = "f", hashlib.sha1(data).hexdigest()
    else:
        kind, extra = "?", ""
    return f"{kind} {stat.S_IMODE(m):04o} {st.st_uid}:{st.st_gid} {extra}".rstrip()
out = []
for dirpath, dirs, files in os.walk(upper):
    for name in sorted(dirs + files):
        p = os.path.join(dirpath, name)
        rel = os.path.relpath(p, upper)
        if skip.search(rel):
            if name in dirs:
                dirs.remove(name)
            continue
        d = desc(p)
        lp = os.path.join(lower, rel)
        base = desc(lp) if os.path.lexists(lp) else None
        if d == "deleted" and base is None:
            continue
        if d != base:
            out.append(f"/{rel}  {d}")
print("\n".join(sorted(out)))
EOF
}

# Parses /usr/bin/time -v output: "wall_s cpu_s maxrss_kb".
time_stats() {
  awk -F': ' '
    /Elapsed \(wall clock\)/ { n = split($2, t, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + t[i] }
    /User time \(seconds\)/ { u = $2 }
    /System time \(seconds\)/ { s = $2 }
    /Maximum resident set size/ { r = $2 }
    END { printf "%.2f %.2f %d\n", w, u + s, r }' "$1"
}

# Changed count reported by a run (sum over hosts), or "?".
changed_count() { # tool log
  case "$1" in
    drover|ansible-*)
      { grep -E '^[^ ].* : ok=[0-9]+ +changed=[0-9]+' "$2" || true; } |
        sed -E 's/.*changed=([0-9]+).*/\1/' | awk '{ s += $1 } END { print (NR ? s : "?") }' ;;
    pyinfra)
      # pyinfra's results table: "Grand total  HOSTS  SUCCESS  ERROR  NO-CHANGE" ("-" = 0);
      # SUCCESS counts the operations that changed something.
      awk '/^ *Grand total/ { s = ($4 == "-") ? 0 : $4; found = 1 } END { print (found ? s : "?") }' "$2" ;;
  esac
}

run_tool() { # tool N run-number dir -> exit status; writes dir/TOOL-runR.{log,time}
  local tool=$1 n=$2 r=$3 d=$4 rc=0
  local out="$d/$tool-run$r"
  case "$tool" in
    drover)
      /usr/bin/time -v -o "$out.time" "$DROVER" play -i "$d/inventory.ini" "$WORKLOAD/site.yml" \
        -f "$n" --known-hosts "$d/known_hosts_drover" --host-key-checking accept-new \
        ${DROVER_ARGS:-} >"$out.log" 2>&1 || rc=$? ;;
    ansible-fair|ansible-default)
      ANSIBLE_CONFIG="$d/$tool.cfg" ANSIBLE_SSH_CONTROL_PATH_DIR="$d/cp-$tool" \
        ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 \
        /usr/bin/time -v -o "$out.time" "$VENV/bin/ansible-playbook" -i "$d/inventory-ansible.ini" \
        "$WORKLOAD/site.yml" >"$out.log" 2>&1 || rc=$?
      close_masters "$d/cp-$tool" ;;
    pyinfra)
      PYINFRA_PROGRESS=off /usr/bin/time -v -o "$out.time" "$VENV/bin/pyinfra" -y --parallel "$n" \
        --chdir "$WORKLOAD" "$d/inventory_pyinfra.py" pyinfra_deploy.py \
        </dev/null >"$out.log" 2>&1 || rc=$? ;;
  esac
  return "$rc"
}
