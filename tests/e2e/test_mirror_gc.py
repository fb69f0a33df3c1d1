"""Mirror cache retention with real pip: after ``airlock gc`` evicts a file
root/pypi had cached (the server running), ``pip install`` through root/pypi
still works, and the fake upstream sees the file fetched again; afterwards
it is served from the cache once more.
"""

from __future__ import annotations

import pytest

from conftest import run
from fake_upstream import FakeUpstream


@pytest.fixture
def upstream(dists):
    up = FakeUpstream()
    up.add("demo-pkg", dists.demo.wheel.path)
    up.add("demo-pkg", dists.demo.sdist.path)
    up.start()
    try:
        yield up
    finally:
        up.stop()


def test_pip_installs_again_after_gc_evicted_the_cached_file(airlock_bin, make_server, clients, dists, upstream):
    srv = make_server("--upstream", upstream.simple_url)
    index_url = srv.index_url("root/pypi")
    wheel = dists.demo.wheel
    blob = srv.data / "blobs" / wheel.sha256[0:2] / wheel.sha256[2:4] / wheel.sha256
    files_path = f"/files/{wheel.name}"

    _, target = clients.pip_install(index_url, "demo-pkg")
    assert clients.import_from(target, "demo_pkg") == "1.0.0"
    assert upstream.hits[files_path] == 1, upstream.hits
    assert blob.is_file()

    # a dry run names it and leaves it
    gc = [str(airlock_bin), "gc", "--data", str(srv.data), "--max-gb", "0", "--min-idle", "0s"]
    res = run([*gc, "--dry-run"])
    assert f"would evict {wheel.name}" in res.output, res
    assert blob.is_file()

    res = run(gc)
    assert f"evicted {wheel.name}" in res.output, res
    assert not blob.exists()

    # still listed, fetched again from upstream, verified, installed
    _, target = clients.pip_install(index_url, "demo-pkg")
    assert clients.import_from(target, "demo_pkg") == "1.0.0"
    assert upstream.hits[files_path] == 2, upstream.hits
    assert blob.is_file()

    # and cached again: the next install does not reach upstream for it
    _, target = clients.pip_install(index_url, "demo-pkg")
    assert clients.import_from(target, "demo_pkg") == "1.0.0"
    assert upstream.hits[files_path] == 2, upstream.hits
