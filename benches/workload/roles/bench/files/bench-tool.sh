#!/bin/sh
# Benchmark helper: `bench-tool daemon` idles until killed; anything else prints its version.
case "${1:-}" in
  daemon) trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done ;;
  *) echo "bench-tool 1.0" ;;
esac
