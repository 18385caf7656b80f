#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds four configurations and
# runs every test, then prints one closing line `N passed, N failed`.
#   release  gcc -O2, -Werror: every test (unit, conformance, namespace, lab)
#   asan     gcc with AddressSanitizer + UndefinedBehaviorSanitizer: every test
#   fuzz     clang-14 libFuzzer: each fuzz target for a fixed number of inputs
#   tsan     gcc with ThreadSanitizer: the tests of the concurrent packet path
#            (engine read side, the filter's workers), only those targets
# HAPF_TEST_CONFIGS="release asan fuzz tsan" selects configurations (default: all).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash scripts/bootstrap.sh || { echo "bootstrap failed"; exit 1; }

JOBS=${JOBS:-$(nproc)}
# ccache makes a rebuild of an unchanged tree cheap; CCACHE_BASEDIR makes paths
# relative so a fresh clone elsewhere still hits the cache.
LAUNCHER=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR=$ROOT CCACHE_NOHASHDIR=1
  LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
CONFIGS=${HAPF_TEST_CONFIGS:-release asan fuzz tsan}
total_pass=0
total_fail=0
status=0

# run_config NAME CMAKE_ARGS... ; TARGETS (ninja targets, default all) and
# TEST_REGEX (ctest -R) narrow a configuration to part of the tree.
run_config() {
  local name=$1; shift
  local dir=$ROOT/build/$name
  echo "=== [$name] configure and build"
  cmake -S "$ROOT" -B "$dir" -G Ninja "${LAUNCHER[@]}" "$@" >"$dir.configure.log" 2>&1 \
    || { cat "$dir.configure.log"; total_fail=$((total_fail + 1)); return 1; }
  ninja -C "$dir" -j "$JOBS" ${TARGETS:-} || { echo "[$name] build failed"; total_fail=$((total_fail + 1)); return 1; }
  echo "=== [$name] test"
  local log=$dir/ctest.log
  local select=()
  [[ -n ${TEST_REGEX:-} ]] && select=(-R "$TEST_REGEX")
  (cd "$dir" && ctest --output-on-failure -j "$JOBS" --timeout 600 "${select[@]}" ${CTEST_ARGS:-}) 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  # ctest: "100% tests passed, 0 tests failed out of 42"
  local line passed failed all
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  if [[ -n $line ]]; then
    failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    all=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
    passed=$((all - failed))
    total_pass=$((total_pass + passed)); total_fail=$((total_fail + failed))
  elif ((rc != 0)); then
    total_fail=$((total_fail + 1))
  fi
  return "$rc"
}

mkdir -p build
for c in $CONFIGS; do
  case $c in
    release) run_config release -DCMAKE_BUILD_TYPE=Release -DHAPF_WERROR=ON || status=1 ;;
    asan) run_config asan -DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=-O1 -g1" -DHAPF_SANITIZE=ON \
            -DHAPF_BENCH=OFF || status=1 ;;
    fuzz) run_config fuzz -DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=-O1 -g1" -DHAPF_FUZZ=ON \
            -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 || status=1 ;;
    # gcc's -Wstringop-overflow misfires on libstdc++ under -fsanitize=thread: no -Werror here.
    tsan) TARGETS="pf_engine_test daemon_unit_test" TEST_REGEX='^(EngineShared|DaemonFilter)\.' \
            run_config tsan -DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=-O1 -g1" -DHAPF_TSAN=ON -DHAPF_WERROR=OFF \
            -DHAPF_BENCH=OFF || status=1 ;;
    *) echo "unknown configuration $c"; status=1 ;;
  esac
done

echo "$total_pass passed, $total_fail failed"
exit $status
