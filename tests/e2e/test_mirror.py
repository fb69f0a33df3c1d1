"""root/pypi with real pip and uv: installs through the mirror from a fake
upstream (with a dependency, with and without PEP 658 metadata), then from
the cache with upstream gone, then with ``--offline``. A live smoke test
installs one small package from pypi.org when pypi.org answers (skipped,
saying why, when it does not); an opt-in live test (``AIRLOCK_LIVE_PYPI=1``)
does the whole round against pypi.org.
"""

from __future__ import annotations

import os

import pytest

from conftest import wheel_metadata
from fake_upstream import FakeUpstream


@pytest.fixture
def upstream(dists):
    """demo-pkg offers PEP 658 metadata for its wheel; demo-app (which
    requires demo-pkg) offers none."""
    up = FakeUpstream()
    up.add("demo-pkg", dists.demo.wheel.path, metadata=wheel_metadata(dists.demo.wheel.path))
    up.add("demo-pkg", dists.demo.sdist.path)
    up.add("demo-app", dists.app.wheel.path)
    up.add("demo-app", dists.app.sdist.path)
    up.start()
    try:
        yield up
    finally:
        up.stop()


def install_both(clients, index_url: str) -> None:
    """pip and uv install demo-app (and so demo-pkg) and can import it."""
    _, target = clients.pip_install(index_url, "demo-app")
    assert clients.import_from(target, "demo_app") == "2.0.0"
    assert clients.import_from(target, "demo_pkg") == "1.0.0"
    _, target = clients.uv_install(index_url, "demo-app")
    assert clients.import_from(target, "demo_app") == "2.0.0"
    assert clients.import_from(target, "demo_pkg") == "1.0.0"


def test_pip_and_uv_through_the_mirror_then_cached_then_offline(make_server, clients, dists, upstream):
    srv = make_server("--upstream", upstream.simple_url)
    index_url = srv.index_url("root/pypi")

    install_both(clients, index_url)
    assert upstream.hits["/simple/demo-app/"] == 1, upstream.hits
    assert upstream.hits["/simple/demo-pkg/"] == 1, upstream.hits
    # each file crossed the network once, however many clients asked
    assert upstream.hits[f"/files/{dists.demo.wheel.name}"] == 1, upstream.hits
    assert upstream.hits[f"/files/{dists.app.wheel.name}"] == 1, upstream.hits
    # uv resolves from PEP 658 metadata where upstream offers it
    assert upstream.hits[f"/files/{dists.demo.wheel.name}.metadata"] == 1, upstream.hits

    # root/dev sees PyPI through its base
    _, target = clients.pip_install(srv.index_url("root/dev"), "demo-app")
    assert clients.import_from(target, "demo_app") == "2.0.0"

    # upstream gone: everything comes from the cache
    upstream.stop()
    install_both(clients, index_url)

    # offline: the same, and airlock says it never asks upstream
    srv.stop()
    srv.args.append("--offline")
    srv.start()
    index_url = srv.index_url("root/pypi")  # a new port
    install_both(clients, index_url)
    res, _ = clients.pip_install(index_url, "not-cached-anywhere", check=False)
    assert "not-cached-anywhere" in res.output


PYPI = "https://pypi.org/simple/"


def pypi_unreachable() -> str | None:
    """Why pypi.org cannot be used from here, or None when it answers. Asked
    the way airlock will ask: through the system trust store (or
    SSL_CERT_FILE), so a company proxy's CA counts."""
    import ssl
    import urllib.request

    try:
        req = urllib.request.Request(PYPI + "six/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        with urllib.request.urlopen(req, timeout=10, context=ssl.create_default_context()) as r:
            if r.status != 200:
                return f"pypi.org answered HTTP {r.status}"
    except Exception as e:  # noqa: BLE001 - any failure means: skip, saying why
        return f"pypi.org does not answer from here ({e})"
    return None


def test_live_pypi_smoke(make_server, clients):
    """One small install through the real root/pypi from pypi.org (part of
    the default run when pypi.org answers): the real mirror path, with
    nothing but the system trust store."""
    why = pypi_unreachable()
    if why:
        pytest.skip(f"live PyPI smoke test skipped: {why}")
    srv = make_server("--upstream", PYPI)  # an explicit upstream: the harness adds no --offline
    _, target = clients.pip_install(srv.index_url("root/pypi"), "six==1.16.0")
    assert any(p.name.startswith("six") for p in target.iterdir()), list(target.iterdir())


@pytest.mark.skipif(os.environ.get("AIRLOCK_LIVE_PYPI") != "1", reason="set AIRLOCK_LIVE_PYPI=1 to test against pypi.org")
def test_live_pypi_then_offline(make_server, clients):
    why = pypi_unreachable()
    assert why is None, why
    # no --upstream-ca: a company proxy's CA is trusted through the system
    # store / SSL_CERT_FILE like pip's own
    srv = make_server("--upstream", PYPI)
    index_url = srv.index_url("root/pypi")
    packages = ("six", "idna", "requests", "numpy")
    clients.pip_install(index_url, *packages)
    clients.uv_install(index_url, *packages)
    srv.stop()
    srv.args = [a for a in srv.args if a not in ("--upstream", PYPI)] + ["--offline"]
    srv.start()
    index_url = srv.index_url("root/pypi")  # a new port
    clients.pip_install(index_url, *packages)
    clients.uv_install(index_url, *packages)
