#!/usr/bin/env bash
# The test command of airlock: Rust unit + integration tests, the
# end-to-end suite that drives the real binary with pip, uv, twine and
# devpi, then the devpi client's own test suite against airlock.
#
#   bash tests/run.sh            # everything
#   bash tests/run.sh -k upload  # extra arguments go to pytest
#
# Needs Rust, Python >= 3.11 with venv/pip, and network access to PyPI the
# first time (to fill .venv-test/), npm (axe-core, for the browser tests),
# and curl, chromium, nginx and postgresql (installed with apt-get if missing). No local wheels.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

venv="$repo/.venv-test"
requirements="$repo/tests/e2e/requirements.txt"
stamp="$venv/.airlock-requirements"

log() { printf '\n== %s\n' "$*" >&2; }

pick_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3 python; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "tests/run.sh: need Python >= 3.11 (set PYTHON=/path/to/python)" >&2
    return 1
}

# pip must install the test tools from PyPI, never from a local wheel folder
# or a different index configured in the environment: drop every PIP_*
# setting except the ones that only concern how to reach PyPI.
clean_pip_env() {
    local var
    for var in $(compgen -e); do
        case "$var" in
            PIP_CERT | PIP_CLIENT_CERT | PIP_DEFAULT_TIMEOUT | PIP_PROXY | PIP_RETRIES) ;;
            PIP_* | UV_* | TWINE_*) unset "$var" ;;
        esac
    done
    export PIP_DISABLE_PIP_VERSION_CHECK=1
}

requirements_hash() {
    # Reinstall when the requirements change or the interpreter changes.
    { cat "$requirements"; "$1" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1
}

ensure_venv() {
    local python want
    [ -f "$requirements" ] || { echo "tests/run.sh: missing $requirements" >&2; return 1; }
    python="$(pick_python)"
    want="$(requirements_hash "$python")"
    if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        log "reusing $venv"
        return 0
    fi
    log "creating $venv (tools from PyPI)"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    # Playwright drives Debian's Chromium: never download a browser of its own
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$venv/bin/python" -m pip install --quiet --index-url https://pypi.org/simple/ \
        --upgrade --requirement "$requirements"
    # Written last: a venv without it is incomplete and gets rebuilt.
    echo "$want" >"$stamp"
}

# Debian packages the tests run as clients (tool, then its package):
# curl for the e2e tests, promtool (package prometheus, installed without
# recommends; only its promtool binary is used, though on a host booted
# with systemd Debian also enables the prometheus service) for
# tests/metrics.rs. Nothing is fetched when they are already there.
ensure_debian_tools() {
    local missing=() pair tool pkg sudo=()
    # nginx (tests/e2e/test_nginx.py, in front of airlock with the generated
    # site; its stream module for the TLS pass-through), systemd-analyze
    # (tests/deploy.rs verifies the generated unit), htpasswd
    # (tests/e2e/test_proxy_sso.py: nginx's basic auth in front of the proxy socket)
    for pair in curl:curl promtool:prometheus nginx:nginx systemd-analyze:systemd htpasswd:apache2-utils; do
        tool="${pair%%:*}" pkg="${pair#*:}"
        command -v "$tool" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || missing+=(libnginx-mod-stream)
    # PostgreSQL's server (the metadata engine of --database postgres://):
    # the tests start a private cluster of their own with initdb/pg_ctl
    # (as nobody when run as root); Debian's package also sets up a
    # cluster of its own, which the tests never use.
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]} (apt-get)"
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# The browser tests (tests/e2e/test_web.py): Debian's Chromium, and axe-core
# from npm (pinned), cached under target/.
AXE_VERSION=4.14.1
ensure_browser_tools() {
    local sudo=() axe_dir="${CARGO_TARGET_DIR:-$repo/target}/axe-core"
    case "$axe_dir" in /*) ;; *) axe_dir="$repo/$axe_dir" ;; esac
    if [ ! -x /usr/bin/chromium ]; then
        log "installing chromium (apt-get)"
        [ "$(id -u)" -eq 0 ] || sudo=(sudo)
        "${sudo[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium
    fi
    if [ "$(cat "$axe_dir/.version" 2>/dev/null)" != "$AXE_VERSION" ]; then
        log "installing axe-core $AXE_VERSION (npm) into $axe_dir"
        mkdir -p "$axe_dir"
        npm install --silent --no-audit --no-fund --prefix "$axe_dir" "axe-core@$AXE_VERSION"
        echo "$AXE_VERSION" >"$axe_dir/.version"
    fi
    export AIRLOCK_AXE_JS="$axe_dir/node_modules/axe-core/axe.min.js"
}

# devpi-server (tests/e2e/test_devpi_import.py exports from a real one),
# pinned, in its own venv cached under target/.
DEVPI_SERVER_VERSION=6.20.3
ensure_devpi_server() {
    local python want dir="${CARGO_TARGET_DIR:-$repo/target}/devpi-server-$DEVPI_SERVER_VERSION"
    case "$dir" in /*) ;; *) dir="$repo/$dir" ;; esac
    python="$(pick_python)"
    want="$("$python" -c 'import sys; print(sys.version)' | sha256sum | cut -d' ' -f1)"
    if [ ! -x "$dir/bin/devpi-export" ] || [ "$(cat "$dir/.stamp" 2>/dev/null)" != "$want" ]; then
        log "creating $dir (devpi-server $DEVPI_SERVER_VERSION from PyPI)"
        rm -rf "$dir"
        "$python" -m venv "$dir"
        "$dir/bin/python" -m pip install --quiet --index-url https://pypi.org/simple/ \
            "devpi-server==$DEVPI_SERVER_VERSION"
        echo "$want" >"$dir/.stamp"
    fi
    export AIRLOCK_DEVPI_SERVER_VENV="$dir"
}

cargo_locked=()
if git -C "$repo" ls-files --error-unmatch Cargo.lock >/dev/null 2>&1; then
    cargo_locked=(--locked)
fi

clean_pip_env
ensure_debian_tools
ensure_venv
ensure_browser_tools
ensure_devpi_server

log "cargo build"
cargo build "${cargo_locked[@]}"

log "cargo test"
cargo test "${cargo_locked[@]}"

# The core of the integration tests again with the metadata in PostgreSQL
# (each test server gets a private cluster; docs/scale-out.md; mirror_gc
# puts the files in a bucket too; export exports from PostgreSQL and
# imports into one machine's folder). Left out: tests/maintenance.rs, which
# plants faults in the SQLite file and blobs/ by hand; backup, fsck and the
# audit check of a PostgreSQL + S3 folder are tested by
# tests/store_migrate.rs (in the run above).
log "cargo test on PostgreSQL (AIRLOCK_TEST_DATABASE=postgres, the core set)"
pg_core=(api uploads push page_cache search audit typosquat web pipeline webhooks mirror mirror_gc export hostile_archives s3_blobs)
AIRLOCK_TEST_DATABASE=postgres cargo test "${cargo_locked[@]}" "${pg_core[@]/#/--test=}"

target_dir="${CARGO_TARGET_DIR:-$repo/target}"
case "$target_dir" in /*) ;; *) target_dir="$repo/$target_dir" ;; esac
export AIRLOCK_BIN="$target_dir/debug/airlock"

# The devpi client's own test suite against airlock runs beside the
# end-to-end tests (each mostly waits on one client process at a time, so
# on two cores together they take about the time of the longer one). A
# selection of e2e tests given as arguments skips it. It runs in its own
# process group so that a failing e2e run stops it, server and all.
devpi_pid=""
devpi_log="$target_dir/devpi-suite.log"
stop_devpi_suite() {
    if [ -n "$devpi_pid" ]; then
        kill -TERM -- "-$devpi_pid" 2>/dev/null || true
        wait "$devpi_pid" 2>/dev/null || true
        devpi_pid=""
    fi
}
trap stop_devpi_suite EXIT
if [ $# -eq 0 ]; then
    log "the devpi client's test suite (tests/devpi_suite.sh), in the background; output: $devpi_log"
    devpi_start=$SECONDS
    # its own temp folder: two pytest runs must not share (and prune) one
    devpi_tmp="$target_dir/devpi-suite-tmp"
    rm -rf "$devpi_tmp" && mkdir -p "$devpi_tmp"
    TMPDIR="$devpi_tmp" setsid bash "$repo/tests/devpi_suite.sh" >"$devpi_log" 2>&1 &
    devpi_pid=$!
fi

log "end-to-end tests (pytest tests/e2e)"
start=$SECONDS
"$venv/bin/python" -m pytest tests/e2e -p no:cacheprovider "$@"
log "end-to-end tests passed in $((SECONDS - start))s"

# The core of them again with every server on PostgreSQL + S3 (a private
# cluster and bucket each; tests/e2e/engines.py, docs/scale-out.md).
# tests/e2e/test_cluster.py runs three nodes behind nginx in the run above.
if [ $# -eq 0 ]; then
    log "end-to-end tests on PostgreSQL + S3 (AIRLOCK_E2E_DATABASE=postgres, the core set)"
    start=$SECONDS
    AIRLOCK_E2E_DATABASE=postgres "$venv/bin/python" -m pytest -p no:cacheprovider \
        tests/e2e/test_core.py tests/e2e/test_devpi_client.py tests/e2e/test_pipeline.py \
        tests/e2e/test_typosquat.py
    log "end-to-end tests on PostgreSQL + S3 passed in $((SECONDS - start))s"
fi

if [ -n "$devpi_pid" ]; then
    log "waiting for the devpi client's test suite"
    rc=0
    wait "$devpi_pid" || rc=$?
    devpi_pid=""
    cat "$devpi_log"
    if [ "$rc" -ne 0 ]; then
        log "devpi suite FAILED (exit $rc) after $((SECONDS - devpi_start))s"
        exit "$rc"
    fi
    log "devpi suite passed in $((SECONDS - devpi_start))s"
fi
