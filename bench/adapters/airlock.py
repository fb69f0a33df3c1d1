"""airlock, measured by the shared package-index harness.

Drop this file into the harness' adapters/ folder (bench/run.sh does that in
a scratch copy) and pass `--servers airlock,...` to its bench.py.

airlock runs with a fresh data dir per repetition, listens on 127.0.0.1 only
and stops on SIGTERM. Once it answers, root creates the user `user` and that
user creates `user/dev`, a private volatile index with no bases -- the same
layout the harness gives devpi, so the URLs match:
  simple pages  /user/dev/+simple/ and /user/dev/+simple/<project>/
  uploads       /user/dev/  (twine, legacy upload API, basic auth)
  files         /user/dev/+f/<h1>/<h2>/<file>

Environment:
  AIRLOCK_BIN           the airlock binary (default: target/release/airlock of
                        the checkout this file sits in, when it is there)
  AIRLOCK_BENCH_NOTE    free text added to the version string (run.sh puts
                        the git commit there)
  AIRLOCK_BENCH_MIRROR  path of a pypi.org mirror simple index, to run the
                        harness' mirror scenario (default: none)
"""

import base64
import json
import os
import subprocess
import urllib.error
import urllib.request

from . import Adapter

USER, INDEX = "user", "dev"
ROOT_PASSWORD = "bench-root-password"

# No proxies: the harness only ever talks to 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _default_binary():
    # bench/adapters/airlock.py -> <repo>/target/release/airlock
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(repo, "target", "release", "airlock")


class AirlockAdapter(Adapter):
    name = "airlock"
    simple_path = f"/{USER}/{INDEX}/+simple/"
    upload_path = f"/{USER}/{INDEX}/"
    username = USER
    mirror_simple_path = os.environ.get("AIRLOCK_BENCH_MIRROR") or None
    start_timeout = 60

    def _binary(self):
        binary = os.environ.get("AIRLOCK_BIN") or _default_binary()
        if not os.access(binary, os.X_OK):
            raise SystemExit(
                f"airlock adapter: no executable airlock at {binary}; build it with "
                "`cargo build --release` and set AIRLOCK_BIN=/path/to/target/release/airlock")
        return binary

    def version(self):
        try:
            out = subprocess.run([self._binary(), "--version"], capture_output=True,
                                 text=True, timeout=30, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = "airlock (version unknown)"
        note = os.environ.get("AIRLOCK_BENCH_NOTE")
        return f"{out} ({note})" if note else out

    def prepare(self, datadir, port):
        # airlock initialises an empty (or missing) data folder on first start.
        os.makedirs(datadir, exist_ok=True)

    def command(self, datadir, port):
        return [self._binary(), "serve", "--listen", f"127.0.0.1:{port}",
                "--data", os.path.join(datadir, "airlock")]

    def env(self):
        # Without AIRLOCK_ROOT_PASSWORD airlock would generate one and print it.
        return {"AIRLOCK_ROOT_PASSWORD": ROOT_PASSWORD}

    def ready_path(self):
        return "/+api"

    def setup(self, base_url, datadir):
        _put_json(f"{base_url}/{USER}", {"password": self.password},
                  ("root", ROOT_PASSWORD))
        # volatile like devpi's dev index; no bases: nothing falls through.
        _put_json(f"{base_url}/{USER}/{INDEX}", {"volatile": True},
                  (USER, self.password))


def _put_json(url, body, credentials):
    token = base64.b64encode(":".join(credentials).encode()).decode()
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="PUT",
        headers={"Content-Type": "application/json", "Accept": "application/json",
                 "Authorization": f"Basic {token}"})
    try:
        with _OPENER.open(req, timeout=60) as resp:
            resp.read()
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")[:500]
        raise RuntimeError(f"airlock setup: PUT {url} answered {err.code}: {detail}") from err


ADAPTER = AirlockAdapter()
