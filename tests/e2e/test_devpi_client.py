"""devpi-client against airlock: the devpi workflow (use, login, index
creation, upload, list) must work unchanged."""

from __future__ import annotations

import shutil

import pytest

from conftest import ROOT_PASSWORD, Clients, run, shows_status, venv_tool


class Devpi:
    def __init__(self, clientdir):
        self.clientdir = clientdir

    def __call__(self, *args, check=True):
        return run([venv_tool("devpi"), "--clientdir", self.clientdir, *args], check=check)


@pytest.fixture
def devpi(tmp_path) -> Devpi:
    return Devpi(tmp_path / "devpi-client")


def test_devpi_login_create_index_upload_list(server, dists, devpi, tmp_path):
    # Dists to upload, in a folder of their own.
    dist_dir = tmp_path / "dists"
    dist_dir.mkdir()
    for d in (dists.demo.wheel, dists.demo.sdist):
        shutil.copy(d.path, dist_dir)

    devpi("use", server.url)
    devpi("login", "root", "--password", ROOT_PASSWORD)
    res = devpi("index", "-c", "devpi-stage", "bases=root/prod", "volatile=True")
    assert "root/devpi-stage" in res.output, res
    res = devpi("use", "root/devpi-stage")
    assert "root/devpi-stage" in res.output, res

    res = devpi("upload", "--from-dir", dist_dir)
    for d in (dists.demo.wheel, dists.demo.sdist):
        assert d.name in res.output, res

    res = devpi("list", "demo-pkg")
    for d in (dists.demo.wheel, dists.demo.sdist):
        assert f"/root/devpi-stage/+f/{d.sha256[:3]}/{d.sha256[3:16]}/{d.name}" in res.output, res

    # And what devpi uploaded installs with pip.
    c = Clients(tmp_path / "clients")
    c.tmp.mkdir()
    _, target = c.pip_install(server.index_url("root/devpi-stage"), "demo-pkg")
    assert c.import_from(target, "demo_pkg") == "1.0.0"


def test_devpi_wrong_password_is_refused(server, devpi):
    devpi("use", server.url)
    res = devpi("login", "root", "--password", "not-the-password", check=False)
    assert shows_status(res.output, 401) and "invalid user name or password" in res.output, res
