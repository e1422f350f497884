#!/usr/bin/env bash
# The C++ core's extra checks, each in its own build tree:
#   asan  - the unit tests under AddressSanitizer + UBSan (g++)
#   fuzz  - every libFuzzer target for FUZZ_SECONDS (default 20) each (clang)
# usage: scripts/cpp-checks.sh asan|fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:?usage: $0 asan|fuzz}" in
  asan)
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCAMWIRE_BUILD_TESTS=ON -DCAMWIRE_SANITIZE=ON >/dev/null
    cmake --build build-asan -j2 --target camwire_cpp_tests
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir build-asan --output-on-failure --no-tests=error
    ;;
  fuzz)
    command -v clang++ >/dev/null || { echo "clang++ not found: apt-get install clang libclang-rt-14-dev" >&2; exit 1; }
    CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAMWIRE_FUZZ=ON >/dev/null
    cmake --build build-fuzz -j2
    for bin in build-fuzz/fuzz_*; do
      name=$(basename "$bin")
      corpus="build-fuzz/corpus-$name"
      mkdir -p "$corpus"
      # Seeds: hand-made streams from test/fuzz/seeds/<target>/ when present.
      seeds="test/fuzz/seeds/${name#fuzz_}"
      echo "== $name for ${FUZZ_SECONDS:-20} s"
      "$bin" -max_total_time="${FUZZ_SECONDS:-20}" -print_final_stats=1 -max_len=65536 "$corpus" $( [ -d "$seeds" ] && echo "$seeds" ) 2>&1 | tail -n 12
    done
    ;;
  *) echo "usage: $0 asan|fuzz" >&2; exit 2 ;;
esac
