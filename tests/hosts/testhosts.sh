#!/usr/bin/env bash
# Isolated Debian test hosts on one machine, for drover's end-to-end tests (and by hand).
#
#   testhosts.sh base                  build the cached base root (debootstrap, ~1 min, once)
#   testhosts.sh up NAME PORT PUBKEY   start host NAME: sshd on 127.0.0.1:PORT, PUBKEY authorised
#                                      for root and for `deploy` (passwordless sudo)
#   testhosts.sh root NAME             print the host's root directory (to inspect its state)
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

die() { echo "testhosts: $*" >&2; exit 1; }

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
  [ -f "$target/.drover-base-ok" ] && return 0
  [ "$(id -u)" = 0 ] || die "building the base needs root"
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
  mkdir -p "$CACHE"
  exec 9>"$CACHE/$lock"
  flock 9
  if [ -f "$target/.drover-base-ok" ]; then exec 9>&-; return 0; fi
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
  # The apt lists come from the tests' local repository, not the network.
  rm -f "$tmp/etc/apt/sources.list" "$tmp"/etc/apt/sources.list.d/*
  rm -rf "$tmp"/var/lib/apt/lists/*
  touch "$tmp/.drover-base-ok"
  rm -rf "$target"
  mv "$tmp" "$target"
  exec 9>&-
}

no_extra() { :; }

build_base() {
  make_base "$BASE" .lock openssh-server,sudo,tini,ca-certificates,sysvinit-core,procps no_extra
}

# The shared part of `up` and `up-systemd`: the overlay root on base $1, the key authorised
# for root and deploy, a fresh host key and the host name. Uses name, port, pubkey; sets dir, r.
prepare_root() {
  lower=$1
  dir="$RUN/$name"
  [ -e "$dir/pid" ] && die "host $name is already up"
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "port $port is already in use"; fi
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

up() {
  name=$1 port=$2 pubkey=$3
  [ "$(id -u)" = 0 ] || die "test hosts need root"
  [ -f "$BASE/.drover-base-ok" ] || build_base
  prepare_root "$BASE"
  # Entered in new mount/pid/uts namespaces: /proc, /dev, /run exist only in there.
  unshare --mount --pid --uts --fork --propagation private sh -c '
    r=$1; name=$2; port=$3
    hostname "$name"
    mount -t proc proc "$r/proc"
    mount --rbind /dev "$r/dev"
    mount -t tmpfs -o mode=0755 tmpfs "$r/run"
    mkdir -p "$r/run/sshd" "$r/run/lock"
    exec chroot "$r" /usr/bin/tini -s -- /usr/sbin/sshd -D -e -p "$port" -o ListenAddress=127.0.0.1 \
      -o UsePAM=no -o HostKey=/etc/ssh/ssh_host_ed25519_key -o PermitRootLogin=prohibit-password -o MaxSessions=100 -o MaxStartups=200 \
      -o LogLevel=DEBUG1
  ' sh "$r" "$name" "$port" >"$dir/sshd.log" 2>&1 </dev/null 9>&- &
  echo $! >"$dir/pid"
  i=0
  while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
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

down() {
  name=$1
  dir="$RUN/$name"
  [ -d "$dir" ] || return 0
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
  make_base "$SBASE" .lock-systemd openssh-server,sudo,ca-certificates,systemd,systemd-sysv,dbus,procps systemd_extra
}

up_systemd() {
  name=$1 port=$2 pubkey=$3
  [ "$(id -u)" = 0 ] || die "test hosts need root"
  command -v systemd-nspawn >/dev/null || die "systemd-nspawn is not installed (apt-get install systemd-container)"
  [ -f "$SBASE/.drover-base-ok" ] || build_base_systemd
  prepare_root "$SBASE"
  mkdir -p "$r/etc/ssh/sshd_config.d"
  printf '%s\n' "Port $port" "ListenAddress 127.0.0.1" "UsePAM no" \
    "HostKey /etc/ssh/ssh_host_ed25519_key" "PermitRootLogin prohibit-password" \
    "MaxSessions 100" "MaxStartups 200" >"$r/etc/ssh/sshd_config.d/drover.conf"
  systemd-nspawn -q -D "$r" --boot --register=no --keep-unit --machine="$name" --console=read-only \
    >"$dir/boot.log" 2>&1 </dev/null 9>&- &
  echo $! >"$dir/pid"
  i=0
  while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 1200 ] || ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      tail -n 30 "$dir/boot.log" >&2 || true
      down "$name"; die "host $name: systemd or sshd did not start (see above)"
    fi
    sleep 0.05
  done
}

case "${1:-}" in
  base) build_base ;;
  up) [ $# -eq 4 ] || die "usage: testhosts.sh up NAME PORT PUBKEY"; up "$2" "$3" "$4" ;;
  down) [ $# -eq 2 ] || die "usage: testhosts.sh down NAME"; down "$2" ;;
  signal) [ $# -eq 3 ] || die "usage: testhosts.sh signal NAME SIG"; signal "$2" "$3" ;;
  base-systemd) build_base_systemd ;;
  up-systemd) [ $# -eq 4 ] || die "usage: testhosts.sh up-systemd NAME PORT PUBKEY"; up_systemd "$2" "$3" "$4" ;;
  root) [ $# -eq 2 ] || die "usage: testhosts.sh root NAME"; echo "$RUN/$2/root" ;;
  *) sed -n '2,14p' "$0"; exit 2 ;;
esac
