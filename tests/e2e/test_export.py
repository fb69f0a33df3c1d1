"""`airlock export` / `airlock import` end to end: a server's index, exported
while it serves, imported into a new data folder; real pip installs from
the server started on the import (the same bytes, dependencies resolved),
and the same user uploads there with twine.
"""

from __future__ import annotations

import hashlib
import json

from conftest import ROOT_PASSWORD, Clients, run


def test_pip_installs_from_an_imported_server(make_server, airlock_bin, dists, clients: Clients, tmp_path):
    src = make_server()
    alice = src.create_user("alice", "alice-pw")
    index = src.create_index(alice, "dev", bases=[], volatile=False)
    clients.twine_upload(
        src.upload_url(index),
        [dists.demo.wheel.path, dists.demo.sdist.path, dists.app.wheel.path, dists.app.sdist.path],
        *alice,
    )

    export = tmp_path / "export"
    run([airlock_bin, "export", export, "--data", src.data])
    manifest = json.loads((export / "airlock-export.json").read_text())
    assert manifest["format_version"] == 1
    files = next(t for t in manifest["tables"] if t["name"] == "files")
    assert files["records"] == 4

    imported = tmp_path / "imported"
    out = run([airlock_bin, "import", export, "--data", imported]).output
    assert "audit chain" in out, out
    src.stop()

    dst = make_server(data=imported)
    res, target = clients.pip_install(dst.index_url(index), "demo-app")
    assert "Successfully installed" in res.output, res
    assert clients.import_from(target, "demo_pkg") == "1.0.0"
    assert clients.import_from(target, "demo_app") == "2.0.0"
    # the wheels pip got are the uploaded bytes
    dl = clients.fresh_dir("dl")
    clients.pip("download", "--no-deps", "--index-url", dst.index_url(index), "demo-pkg==1.0.0",
                "--only-binary", ":all:", "-d", dl)
    got = dl / dists.demo.wheel.name
    assert hashlib.sha256(got.read_bytes()).hexdigest() == dists.demo.wheel.sha256
    # the imported user still logs in and uploads
    clients.twine_upload(dst.upload_url(index), [dists.big_wheel.path], *alice)
    r = dst.api("GET", "+audit", as_user=("root", ROOT_PASSWORD))
    actions = [e["action"] for e in r.json()["result"]]
    assert "data_import" in actions, actions
