//! A tiny LSB init-script daemon used by the service tests.

/// A tiny daemon: a loop that writes the date every second. Every action is logged to
/// `/var/log/drover-echo.log` (on the host's root, visible from outside, unlike `/run`).
pub const INIT_SCRIPT: &str = r#"#!/bin/sh
### BEGIN INIT INFO
# Provides:          drover-echo
# Required-Start:    $remote_fs
# Required-Stop:     $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: drover test daemon
### END INIT INFO
PID=/run/drover-echo.pid
LOG=/var/log/drover-echo.log
running() { [ -f "$PID" ] && kill -0 "$(cat "$PID")" 2>/dev/null; }
do_start() {
  running && return 0
  setsid sh -c 'while :; do date > /run/drover-echo.beat; sleep 1; done' </dev/null >/dev/null 2>&1 &
  echo $! > "$PID"
}
do_stop() {
  if running; then kill -TERM -- "-$(cat "$PID")" 2>/dev/null || kill "$(cat "$PID")"; fi
  rm -f "$PID"
}
case "$1" in
  start) do_start; echo start >> "$LOG" ;;
  stop) do_stop; echo stop >> "$LOG" ;;
  restart|force-reload) do_stop; do_start; echo restart >> "$LOG"; touch /var/log/drover-echo.restarted ;;
  reload) running || exit 7; echo reload >> "$LOG"; touch /var/log/drover-echo.reloaded ;;
  status)
    if running; then echo "drover-echo is running"; exit 0; fi
    if [ -f "$PID" ]; then exit 1; fi
    echo "drover-echo is not running"; exit 3 ;;
  *) echo "Usage: $0 {start|stop|restart|reload|force-reload|status}" >&2; exit 2 ;;
esac
exit 0
"#;
