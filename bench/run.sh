#!/usr/bin/env bash
# Benchmark airlock against devpi-server and pypiserver in ONE run of the
# shared peer harness, then print every figure and the ratio airlock/peer.
#
#   bench/run.sh [--reps N] [--duration S] [--scenarios LIST] [--projects N] ...
#   bench/run.sh --help
#
# The harness is not part of this repository: it is found through
# AIRLOCK_PEER_HARNESS (default: ../shared/bench next to the repository),
# copied into a scratch dir under /tmp, given our adapter
# (bench/adapters/airlock.py), and run from there. See bench/README.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HARNESS=${AIRLOCK_PEER_HARNESS:-$REPO/../shared/bench}
export BENCH_WORK=${BENCH_WORK:-/tmp/airlock-bench-work}
export BENCH_PEERS=${BENCH_PEERS:-/tmp/peers}

REPS=1 DURATION=10 WARMUP=2 PIP_RUNS=3 PROJECTS=1000 VERSIONS=1 BUILD=1 OUT=
SERVERS=airlock,devpi,pypiserver
SCENARIOS=upload,simple_project,simple_root,download_small,download_big,pip_install
EXTRA=()

usage() {
  cat <<EOF
usage: bench/run.sh [options] [-- extra bench.py options]

Builds airlock (release), runs the shared harness with servers $SERVERS
in one invocation (repetitions interleaved), prints the harness' own tables,
then bench/ratios.py's table of every figure with the ratio airlock/peer.

  --reps N           repetitions per server (default $REPS)
  --duration S       seconds of each wrk run (default $DURATION)
  --warmup S         seconds of discarded wrk warm-up (default $WARMUP)
  --scenarios LIST   harness scenarios (default $SCENARIOS;
                     'mirror' needs pypi.org and only devpi has one)
  --pip-runs N       hyperfine runs of the pip-install scenario (default $PIP_RUNS)
  --projects N       projects in the synthetic workload (default $PROJECTS)
  --versions N       versions per project, each a wheel and an sdist (default $VERSIONS)
  --servers LIST     adapters to run (default $SERVERS)
  --out FILE         results JSON (default \$BENCH_WORK/results-<time>.json)
  --no-build         do not run cargo; use \$AIRLOCK_BIN or target/release/airlock
  --extras           after the harness, run the issue-6/8 benches too: transfer_bench.py
                     (50 MB vs nginx, pip/uv vs --find-links), tls_bench.py (TLS vs
                     nginx+devpi), scale_bench.py (1k/10k/100k projects)
  --only-extras      only those three (the peers' venvs must exist already)
  --web              only bench/web_bench.py: airlock's HTML pages against devpi-web
                     (its own devpi venv under target/bench/; does not need the peer
                     harness); --reps/--duration are passed on, so is anything after --

Environment: AIRLOCK_PEER_HARNESS (the harness folder, default ../shared/bench
relative to the repository), BENCH_WORK (scratch, default /tmp/airlock-bench-work),
BENCH_PEERS (peer venvs, default /tmp/peers), AIRLOCK_BIN, AIRLOCK_BENCH_NOTE (text
added to airlock's version string), and the harness' own
variables (DEVPI_UPLOAD_AUTH, DEVPI_THREADS, ...; see its README.md).
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --scenarios) SCENARIOS=$2; shift 2 ;;
    --pip-runs) PIP_RUNS=$2; shift 2 ;;
    --projects) PROJECTS=$2; shift 2 ;;
    --versions) VERSIONS=$2; shift 2 ;;
    --servers) SERVERS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --extras) EXTRAS=1; shift ;;
    --only-extras) EXTRAS=1; ONLY_EXTRAS=1; shift ;;
    --web) WEB=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

EXTRAS=${EXTRAS:-0}
ONLY_EXTRAS=${ONLY_EXTRAS:-0}

say() { echo "[run.sh] $*"; }

# The issue-6/8 benches (each stops what it starts; each prints its table).
run_extras() {
  local d=${DURATION}
  echo
  echo "## 50 MB downloads and installs (bench/transfer_bench.py)"
  python3 "$REPO/bench/transfer_bench.py" --duration "$d"
  echo
  echo "## TLS (bench/tls_bench.py)"
  python3 "$REPO/bench/tls_bench.py" --duration "$d"
  echo
  echo "## Scale (bench/scale_bench.py)"
  python3 "$REPO/bench/scale_bench.py" --duration "$(( (d + 1) / 2 ))" --reps 3
}

WEB=${WEB:-0}
if [ "$WEB" = 1 ]; then
  # The web benchmark brings its own peer (devpi-server + devpi-web): no harness needed.
  WEB_ARGS=(--reps "$REPS" --duration "$DURATION")
  [ "$BUILD" = 1 ] || WEB_ARGS+=(--no-build)
  exec python3 "$REPO/bench/web_bench.py" "${WEB_ARGS[@]}" "${EXTRA[@]+"${EXTRA[@]}"}"
fi

if [ "$ONLY_EXTRAS" = 1 ]; then
  if [ "$BUILD" = 1 ] && [ -z "${AIRLOCK_BIN:-}" ]; then
    (cd "$REPO" && cargo build --release --locked)
  fi
  export AIRLOCK_BIN=${AIRLOCK_BIN:-$REPO/target/release/airlock}
  export BENCH_WORK BENCH_PEERS
  run_extras
  exit 0
fi

# ---- the peer harness: present and recognisable?
if [ ! -f "$HARNESS/bench.py" ] || [ ! -f "$HARNESS/adapters/__init__.py" ]; then
  cat >&2 <<EOF
run.sh: the peer benchmark harness was not found at
  $HARNESS
It is not part of this repository: it is the shared package-index harness
(bench.py, gen_workload.py, install_peers.sh, adapters/) that measures
devpi-server and pypiserver. Point AIRLOCK_PEER_HARNESS at its folder, e.g.
  AIRLOCK_PEER_HARNESS=/path/to/shared/bench bench/run.sh
EOF
  exit 2
fi
HARNESS=$(cd "$HARNESS" && pwd)

# ---- airlock, release build
if [ "$BUILD" = 1 ] && [ -z "${AIRLOCK_BIN:-}" ]; then
  say "cargo build --release"
  (cd "$REPO" && cargo build --release)
fi
export AIRLOCK_BIN=${AIRLOCK_BIN:-$REPO/target/release/airlock}
if [ ! -x "$AIRLOCK_BIN" ]; then
  echo "run.sh: no airlock binary at $AIRLOCK_BIN (build with cargo build --release)" >&2
  exit 2
fi
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$REPO" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null)" ]; then
  COMMIT="$COMMIT+uncommitted changes"
fi
export AIRLOCK_BENCH_NOTE="commit $COMMIT, release build${AIRLOCK_BENCH_NOTE:+; $AIRLOCK_BENCH_NOTE}"

# ---- scratch copy of the harness with our adapter in it (never in the repo)
SCRATCH=$(mktemp -d /tmp/airlock-bench-harness.XXXXXX)
BENCH_PID=
cleanup() {
  if [ -n "$BENCH_PID" ] && kill -0 "$BENCH_PID" 2>/dev/null; then
    say "stopping bench.py (pid $BENCH_PID)"
    kill -TERM "$BENCH_PID" 2>/dev/null || true  # it stops its server by PID
    wait "$BENCH_PID" 2>/dev/null || true
  fi
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cp -R "$HARNESS/." "$SCRATCH/"
chmod -R u+w "$SCRATCH"
rm -rf "$SCRATCH/results"  # the harness' stored baseline is not needed here
cp "$REPO/bench/adapters/airlock.py" "$SCRATCH/adapters/airlock.py"
say "harness $HARNESS copied to $SCRATCH"

# ---- peers and client tools (twine, pip), installed once per machine
need_install=0
[ -x "$BENCH_PEERS/tools/bin/twine" ] || need_install=1
case ",$SERVERS," in *,devpi,*) [ -x "$BENCH_PEERS/devpi/bin/devpi-server" ] || need_install=1 ;; esac
case ",$SERVERS," in *,pypiserver,*) [ -x "$BENCH_PEERS/pypiserver/bin/pypi-server" ] || need_install=1 ;; esac
command -v "${BENCH_WRK:-wrk}" >/dev/null || need_install=1
command -v "${BENCH_HYPERFINE:-hyperfine}" >/dev/null || need_install=1
if [ "$need_install" = 1 ]; then
  say "installing peers into $BENCH_PEERS with the harness' install_peers.sh"
  bash "$SCRATCH/install_peers.sh"
fi

# ---- workload: one folder per shape, generated once and reused
WORKLOAD="$BENCH_WORK/workload-p${PROJECTS}-v${VERSIONS}"
if [ ! -f "$WORKLOAD/manifest.json" ]; then
  say "generating $PROJECTS projects x $VERSIONS versions into $WORKLOAD"
  python3 "$SCRATCH/gen_workload.py" --out "$WORKLOAD" --projects "$PROJECTS" --versions "$VERSIONS"
fi

mkdir -p "$BENCH_WORK"
OUT=${OUT:-$BENCH_WORK/results-$(date +%Y%m%d-%H%M%S).json}
ARGS=(--servers "$SERVERS" --scenarios "$SCENARIOS" --reps "$REPS" --duration "$DURATION"
      --warmup "$WARMUP" --pip-runs "$PIP_RUNS" --workload "$WORKLOAD" --out "$OUT")
ARGS+=("${EXTRA[@]+"${EXTRA[@]}"}")
say "python3 bench.py ${ARGS[*]}"
python3 "$SCRATCH/bench.py" "${ARGS[@]}" &
BENCH_PID=$!
rc=0
wait "$BENCH_PID" || rc=$?
BENCH_PID=
if [ ! -f "$OUT" ]; then
  echo "run.sh: bench.py exited with $rc and wrote no results" >&2
  exit 1
fi
echo
echo "## airlock against its peers"
echo
python3 "$REPO/bench/ratios.py" "$OUT"
echo
say "results JSON: $OUT (bench.py exit status $rc)"
if [ "$EXTRAS" = 1 ]; then
  export BENCH_WORK BENCH_PEERS
  run_extras
fi
exit "$rc"
