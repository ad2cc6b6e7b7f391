#!/usr/bin/env bash
# Isolated Debian test hosts on one machine, for drover's end-to-end tests (and by hand).
#
#   testhosts.sh base                  build the cached base root (debootstrap, ~1 min, once)
#   testhosts.sh up NAME PORT PUBKEY [NETNS ADDR]
#                                      start host NAME: sshd on 127.0.0.1:PORT (or, in network
#                                      namespace NETNS, on ADDR:PORT), PUBKEY authorised for root
#                                      and for `deploy` (passwordless sudo)
#   testhosts.sh jumpnet-up            make two network namespaces for a jump-host test and print
#                                      `ID JUMP_NETNS JUMP_ADDR TARGET_NETNS TARGET_ADDR`: this
#                                      machine reaches JUMP_ADDR only, TARGET_ADDR is reachable
#                                      only from the jump namespace
#   testhosts.sh jumpnet-down ID       delete both namespaces and their links
#   testhosts.sh root NAME             print the host's root directory (to inspect its state)
#   testhosts.sh mirror                print the Debian mirror of this machine's apt sources
#   testhosts.sh down NAME             stop the host and delete its changes
#   testhosts.sh signal NAME SIG       send SIG (KILL, STOP, CONT) to every process of the host;
#                                      after KILL its sshd is gone but its files stay until `down`
#
# Each host is an overlayfs (lower: the cached base, upper: the host's own changes) entered
# with its own mount, pid and uts namespaces and chroot, PID 1 `tini`, and its own sshd.
# Needs root, debootstrap, unshare, and overlayfs. The Debian mirror is read from this
# machine's apt configuration. Environment: DROVER_TESTHOSTS_CACHE, DROVER_TESTHOSTS_RUN.
set -eu

CACHE=${DROVER_TESTHOSTS_CACHE:-/var/cache/drover-testhosts}
RUN=${DROVER_TESTHOSTS_RUN:-/tmp/drover-testhosts}
SUITE=bookworm
BASE="$CACHE/base-$SUITE"
# Written into a base's `.drover-base-ok`; a base built by an older version of this script
# (another content) is rebuilt. Bump it whenever what `make_base` produces changes.
BASE_FORMAT=16

die() { echo "testhosts: $*" >&2; exit 1; }

# Whether base root $1 is complete and of the current format.
base_ok() { [ "$(cat "$1/.drover-base-ok" 2>/dev/null)" = "$BASE_FORMAT" ]; }

mirror() {
  # First Debian archive URI in the machine's own apt sources (deb822 or one-line format).
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$f"
  done | head -n 1 | grep . && return 0
  awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) { print $i; exit } }' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1 | grep . && return 0
  die "no Debian mirror found in /etc/apt/sources.list*"
}

# Builds a base root into $1 once (lock $2, packages $3), with the `deploy` user, no host keys
# and no apt sources; $4 names a function run on the new root before it is published.
make_base() {
  target=$1 lock=$2 packages=$3 extra=$4
  base_ok "$target" && return 0
  [ "$(id -u)" = 0 ] || die "building the base needs root"
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
  mkdir -p "$CACHE"
  exec 9>"$CACHE/$lock"
  flock 9
  if base_ok "$target"; then exec 9>&-; return 0; fi
  tmp="$target.tmp.$$"
  log="$CACHE/debootstrap-$(basename "$target").log"
  rm -rf "$tmp"
  debootstrap --variant=minbase --include="$packages" "$SUITE" "$tmp" "$(mirror)" >"$log" 2>&1 \
    || { rm -rf "$tmp"; die "debootstrap failed; see $log"; }
  # Host keys are made per host at first start; the base has none.
  rm -f "$tmp"/etc/ssh/ssh_host_*
  chroot "$tmp" useradd -m -s /bin/bash deploy
  # A locked account (`!` in shadow) is refused by sshd without PAM even for key logins.
  chroot "$tmp" usermod -p '*' deploy
  echo 'deploy ALL=(ALL) NOPASSWD: ALL' >"$tmp/etc/sudoers.d/deploy"
  chmod 0440 "$tmp/etc/sudoers.d/deploy"
  mkdir -p "$tmp/root/.ssh" "$tmp/home/deploy/.ssh"
  "$extra" "$tmp"
  # The apt lists come from the tests' local repository, not the network. The lists directory
  # is dated 1970 and there is no update stamp, so the cache is stale whenever the base was
  # built: `cache_valid_time` (which, as in Ansible, reads the stamp or the lists' mtime)
  # always updates on a fresh host, the same on a machine that built its base a minute ago.
  rm -f "$tmp/etc/apt/sources.list" "$tmp"/etc/apt/sources.list.d/*
  rm -rf "$tmp"/var/lib/apt/lists/* "$tmp/var/lib/apt/periodic/update-success-stamp"
  mkdir -p "$tmp/var/lib/apt/lists/partial"
  touch -d @0 "$tmp/var/lib/apt/lists/partial" "$tmp/var/lib/apt/lists"
  echo "$BASE_FORMAT" >"$tmp/.drover-base-ok"
  # A base of an older format is moved aside first: hosts still running on it keep their
  # lower directory until they stop.
  if [ -e "$target" ]; then mv "$target" "$target.old.$$" && rm -rf "$target.old.$$"; fi
  mv "$tmp" "$target"
  exec 9>&-
}

no_extra() { :; }

build_base() {
  # `acl`, `file`, `curl` and `python3` as on Ansible's test images (its integration targets
  # use getfacl/setfacl and run Python scripts as test tools; `get_url` downloads with curl),
  # and `python3-apt`, which
  # ansible-playbook's `apt` module needs on the host when the differential tests run it
  # (tests/differential.rs); drover itself needs none of them.
  make_base "$BASE" .lock openssh-server,sudo,tini,ca-certificates,sysvinit-core,procps,acl,file,curl,unzip,zip,cron,debconf-utils,python3,python3-apt,iptables,ufw,kmod,libuser,python3-venv,python3-pip,gpg,gpg-agent,iproute2,doas no_extra
}

# The shared part of `up` and `up-systemd`: the overlay root on base $1, the key authorised
# for root and deploy, a fresh host key and the host name. Uses name, port, pubkey; sets dir, r.
prepare_root() {
  lower=$1
  dir="$RUN/$name"
  [ -e "$dir/pid" ] && die "host $name is already up"
  if [ -z "$netns" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "port $port is already in use"; fi
  mkdir -p "$dir/upper" "$dir/work" "$dir/root"
  mount -t overlay overlay -o "lowerdir=$lower,upperdir=$dir/upper,workdir=$dir/work" "$dir/root"
  r="$dir/root"
  install -d -m 0700 "$r/root/.ssh"
  install -m 0600 "$pubkey" "$r/root/.ssh/authorized_keys"
  install -d -m 0700 -o 1000 -g 1000 "$r/home/deploy/.ssh"
  install -m 0600 -o 1000 -g 1000 "$pubkey" "$r/home/deploy/.ssh/authorized_keys"
  # One ed25519 host key per host (fast to make; RSA keys would take seconds each).
  ssh-keygen -q -N '' -t ed25519 -C "root@$name" -f "$r/etc/ssh/ssh_host_ed25519_key" </dev/null >/dev/null
  echo "$name" >"$r/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$name" >"$r/etc/hosts"
}

# Whether something listens on $addr:$port (inside $netns when set).
listening() {
  if [ -n "$netns" ]; then
    ip netns exec "$netns" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$addr" "$port" 2>/dev/null
  else
    (exec 3<>"/dev/tcp/$addr/$port") 2>/dev/null
  fi
}

up() {
  name=$1 port=$2 pubkey=$3 netns=${4:-} addr=${5:-127.0.0.1}
  [ "$(id -u)" = 0 ] || die "test hosts need root"
  base_ok "$BASE" || build_base
  if [ -n "$netns" ]; then
    ip netns exec "$netns" true || die "no network namespace $netns"
    inns="ip netns exec $netns"
  else
    inns=""
  fi
  prepare_root "$BASE"
  # Entered in new mount/pid/uts namespaces: /proc, /dev, /run exist only in there.
  $inns unshare --mount --pid --uts --fork --propagation private sh -c '
    r=$1; name=$2; port=$3; addr=$4
    hostname "$name"
    mount -t proc proc "$r/proc"
    # Read-only: a host reads its devices there (what roles and Ansible'"'"'s tests look at);
    # nothing in it may change the machine the hosts run on.
    mkdir -p "$r/sys" && mount -t sysfs -o ro sysfs "$r/sys"
    mount --rbind /dev "$r/dev"
    mount -t tmpfs -o mode=0755 tmpfs "$r/run"
    mkdir -p "$r/run/sshd" "$r/run/lock"
    exec chroot "$r" /usr/bin/tini -s -- /usr/sbin/sshd -D -e -p "$port" -o ListenAddress="$addr" \
      -o UsePAM=no -o HostKey=/etc/ssh/ssh_host_ed25519_key -o PermitRootLogin=prohibit-password -o MaxSessions=100 -o MaxStartups=200 \
      -o LogLevel=DEBUG1
  ' sh "$r" "$name" "$port" "$addr" >"$dir/sshd.log" 2>&1 </dev/null 9>&- &
  echo $! >"$dir/pid"
  i=0
  while ! listening; do
    i=$((i + 1))
    if [ "$i" -gt 100 ]; then down "$name"; die "host $name: sshd did not start (see $dir/sshd.log)"; fi
    sleep 0.05
  done
}

# Whether process $1 runs: exists and is not a zombie (zombies may wait seconds for a reaper).
alive() {
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [ "${st#Z}" = "$st" ]
}

# Jump-host networks: netns J is linked to this machine (10.213.N.1/24 here, 10.213.N.2 in J)
# and netns T is linked to J only (10.213.N.129 in J, 10.213.N.130 in T). Neither forwards, so
# T's address (on-link here through the /24, answered by nobody) is unreachable from here.
jumpnet_up() {
  [ "$(id -u)" = 0 ] || die "network namespaces need root"
  command -v ip >/dev/null || die "ip (iproute2) is not installed"
  mkdir -p "$RUN"
  exec 8>"$RUN/.jumpnet.lock"
  flock 8
  n=1
  while [ "$n" -lt 255 ]; do
    if ! ip netns list | grep -q "^drover-jn$n-" && ! ip -4 -o addr show | grep -q " 10\.213\.$n\."; then
      break
    fi
    n=$((n + 1))
  done
  [ "$n" -lt 255 ] || die "no free jump-host network (10.213.1-254.0/24 all in use)"
  j="drover-jn$n-j" t="drover-jn$n-t"
  ip netns add "$j"
  ip netns add "$t"
  ip link add "drvj${n}r" type veth peer name "drvj${n}j"
  ip link set "drvj${n}j" netns "$j"
  ip link add "drvj${n}a" type veth peer name "drvj${n}t"
  ip link set "drvj${n}a" netns "$j"
  ip link set "drvj${n}t" netns "$t"
  exec 8>&-
  ip addr add "10.213.$n.1/24" dev "drvj${n}r"
  ip link set "drvj${n}r" up
  ip -n "$j" addr add "10.213.$n.2/25" dev "drvj${n}j"
  ip -n "$j" addr add "10.213.$n.129/30" dev "drvj${n}a"
  ip -n "$t" addr add "10.213.$n.130/30" dev "drvj${n}t"
  for l in "$j lo" "$j drvj${n}j" "$j drvj${n}a" "$t lo" "$t drvj${n}t"; do
    set -- $l
    ip -n "$1" link set "$2" up
  done
  ip netns exec "$j" sysctl -qw net.ipv4.ip_forward=0
  ip netns exec "$t" sysctl -qw net.ipv4.ip_forward=0
  echo "jn$n $j 10.213.$n.2 $t 10.213.$n.130"
}

jumpnet_down() {
  id=$1
  case "$id" in jn[0-9]*) ;; *) die "not a jump-host network id: $id" ;; esac
  # Deleting a namespace deletes its links, and with them their peers here.
  ip netns del "drover-$id-t" 2>/dev/null || true
  ip netns del "drover-$id-j" 2>/dev/null || true
  n=${id#jn}
  ip link del "drvj${n}r" 2>/dev/null || true
}

down() {
  name=$1
  dir="$RUN/$name"
  [ -d "$dir" ] || return 0
  # A systemd host's restart loop first, so it starts nothing again.
  if [ -f "$dir/loop.pid" ]; then
    kill -KILL "$(cat "$dir/loop.pid")" 2>/dev/null || true
  fi
  if [ -f "$dir/pid" ]; then
    pid=$(cat "$dir/pid")
    # Killing the namespace's init (unshare's forked child) ends every process inside.
    pkill -KILL -P "$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid"; do sleep 0.02; done
  fi
  umount -l "$dir/root" 2>/dev/null || true
  rm -rf "$dir"
}

# Every process in the host's pid namespace (sshd, its sessions, their commands).
signal() {
  name=$1 sig=$2
  dir="$RUN/$name"
  [ -f "$dir/pid" ] || die "host $name is not up"
  init=$(pgrep -P "$(cat "$dir/pid")" | head -n 1) || return 0
  # pkill signals one process after another: stopped first, no process of the host runs
  # again (a shell cannot report its killed child's status before it dies itself).
  [ "$sig" = KILL ] && { pkill -STOP --ns "$init" --nslist pid || true; }
  pkill "-$sig" --ns "$init" --nslist pid || true
  if [ "$sig" = KILL ]; then
    while alive "$init"; do sleep 0.02; done
  fi
  return 0
}

# Systemd hosts (optional; used by tests that need a real service manager):
#
#   testhosts.sh base-systemd                  build the cached base with systemd as init
#   testhosts.sh up-systemd NAME PORT PUBKEY   boot host NAME with `systemd-nspawn --boot`
#                                              (host network; sshd on 127.0.0.1:PORT)
#
# `root` and `down` work for them too. Needs systemd-nspawn (Debian: systemd-container).
SBASE="$CACHE/base-$SUITE-systemd"

systemd_extra() {
  tmp=$1
  mkdir -p "$tmp/etc/systemd/system/multi-user.target.wants"
  ln -sf /lib/systemd/system/ssh.service "$tmp/etc/systemd/system/multi-user.target.wants/ssh.service"
  # Nothing a test needs, and slow or failing in a container.
  for u in getty.target console-getty.service systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer; do
    ln -sf /dev/null "$tmp/etc/systemd/system/$u"
  done
}

build_base_systemd() {
  make_base "$SBASE" .lock-systemd openssh-server,sudo,ca-certificates,systemd,systemd-sysv,dbus,procps,acl,file,cron,faketime,python3,libpam-systemd systemd_extra
}

up_systemd() {
  name=$1 port=$2 pubkey=$3 netns=""
  [ "$(id -u)" = 0 ] || die "test hosts need root"
  command -v systemd-nspawn >/dev/null || die "systemd-nspawn is not installed (apt-get install systemd-container)"
  base_ok "$SBASE" || build_base_systemd
  prepare_root "$SBASE"
  mkdir -p "$r/etc/ssh/sshd_config.d"
  printf '%s\n' "Port $port" "ListenAddress 127.0.0.1" "UsePAM no" \
    "HostKey /etc/ssh/ssh_host_ed25519_key" "PermitRootLogin prohibit-password" \
    "MaxSessions 100" "MaxStartups 200" >"$r/etc/ssh/sshd_config.d/drover.conf"
  # DROVER_NSPAWN_BINDS: directories (one per line) mounted at the same paths inside.
  set --
  while IFS= read -r b; do [ -n "$b" ] && set -- "$@" "--bind=$b"; done <<EOF_BINDS
${DROVER_NSPAWN_BINDS:-}
EOF_BINDS
  # A container that reboots ends systemd-nspawn with status 133: it is started again on
  # the same root (as systemd-nspawn@.service does), so `reboot` works on these hosts.
  # `$dir/pid` is the current systemd-nspawn; `$dir/loop.pid` the loop that restarts it.
  (
    while :; do
      systemd-nspawn -q -D "$r" --boot --register=no --keep-unit --machine="$name" --console=read-only "$@" &
      echo $! >"$dir/pid.new" && mv "$dir/pid.new" "$dir/pid"
      rc=0; wait $! || rc=$?
      echo "systemd-nspawn exited with $rc"
      [ "$rc" = 133 ] || break
    done
  ) >"$dir/boot.log" 2>&1 </dev/null 9>&- &
  echo $! >"$dir/loop.pid"
  i=0
  while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 1200 ] || ! kill -0 "$(cat "$dir/loop.pid")" 2>/dev/null; then
      tail -n 30 "$dir/boot.log" >&2 || true
      down "$name"; die "host $name: systemd or sshd did not start (see above)"
    fi
    sleep 0.05
  done
}

case "${1:-}" in
  base) build_base ;;
  up) { [ $# -eq 4 ] || [ $# -eq 6 ]; } || die "usage: testhosts.sh up NAME PORT PUBKEY [NETNS ADDR]"; shift; up "$@" ;;
  jumpnet-up) jumpnet_up ;;
  jumpnet-down) [ $# -eq 2 ] || die "usage: testhosts.sh jumpnet-down ID"; jumpnet_down "$2" ;;
  down) [ $# -eq 2 ] || die "usage: testhosts.sh down NAME"; down "$2" ;;
  signal) [ $# -eq 3 ] || die "usage: testhosts.sh signal NAME SIG"; signal "$2" "$3" ;;
  base-systemd) build_base_systemd ;;
  up-systemd) [ $# -eq 4 ] || die "usage: testhosts.sh up-systemd NAME PORT PUBKEY"; up_systemd "$2" "$3" "$4" ;;
  root) [ $# -eq 2 ] || die "usage: testhosts.sh root NAME"; echo "$RUN/$2/root" ;;
  mirror) mirror ;;
  *) sed -n '2,22p' "$0"; exit 2 ;;
esac
