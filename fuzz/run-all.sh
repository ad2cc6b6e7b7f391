#!/bin/sh
# Runs every cargo-fuzz target of this directory for a fixed budget each (seconds, default
# 60), starting from its corpus (fuzz/corpus/TARGET), and fails on the first crash, panic or
# timeout. Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
#
#   fuzz/run-all.sh [SECONDS]
set -eu
budget=${1:-60}
cd "$(dirname "$0")"
# Compiled templates are cached for the whole process on purpose: leaks are not findings.
export ASAN_OPTIONS=detect_leaks=0
for t in $(cargo +nightly fuzz list); do
  mkdir -p "corpus/$t"
  rm -rf "artifacts/$t"
  echo "fuzz: $t for ${budget}s"
  cargo +nightly fuzz run -O "$t" "corpus/$t" -- -max_total_time="$budget" -timeout=10 \
    -rss_limit_mb=2048 2>&1 | grep -E '^(#[0-9]+ +DONE|Done|==[0-9]+==ERROR|SUMMARY)|panicked' || true
  # cargo fuzz exits non-zero on a finding; the line filter above must not hide that.
  for f in "artifacts/$t"/*; do
    if [ -e "$f" ]; then
      echo "fuzz: $t found a failing input: fuzz/$f" >&2
      exit 1
    fi
  done
done
echo "fuzz: every target ran ${budget}s without a finding"
