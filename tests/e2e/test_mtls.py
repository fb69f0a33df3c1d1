"""Mutual TLS with the real clients: `airlock certs init`, an HTTPS airlock
whose policy makes uploads to acme/dev and installs from acme/prod need a
client certificate, then twine `--client-cert`, pip `--client-cert` and uv
with `SSL_CLIENT_CERT`: accepted with alice's certificate, refused without
one, with the reason shown.
"""

from __future__ import annotations

import sys

from conftest import ROOT_PASSWORD, build_project, run, venv_tool, write_project

POLICY = """
[index."acme/dev"]
type = "stage"
upload_users = ["alice"]
auth = { upload = ["client_cert"] }

[index."acme/prod"]
type = "stage"
production = true
accepts_push_from = ["acme/dev"]
push_users = ["alice"]
auth = { push = ["client_cert"], install = ["client_cert"] }
"""


def test_real_clients_with_client_certificates(make_server, clients, airlock_bin, tmp_path):
    pki = tmp_path / "pki"
    run([str(airlock_bin), "certs", "init", str(pki), "--client", "alice", "--client", "bob"])
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "acme.toml").write_text(POLICY)
    srv = make_server(
        "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"),
        "--client-ca", str(pki / "ca.pem"), "--client-auth", "optional",
        "--cert-identity", "san-uri", "--policies", str(policies),
    )
    base = srv.url.replace("127.0.0.1", "localhost")
    assert base.startswith("https://")
    ca, bundle = str(pki / "ca.pem"), str(pki / "alice-bundle.pem")

    # alice gets a password too (twine always sends one)
    import requests
    r = requests.put(f"{base}/alice", json={"password": "apw"}, auth=("root", ROOT_PASSWORD), verify=ca)
    assert r.status_code == 201, r.text
    # bob has an account and a valid certificate, but no upload rights on acme/dev
    r = requests.put(f"{base}/bob", json={"password": "bpw"}, auth=("root", ROOT_PASSWORD), verify=ca)
    assert r.status_code == 201, r.text

    proj = write_project(tmp_path / "src", "acme-billing", "1.0", "acme_billing", 'VERSION = "1.0"\n')
    proc = build_project(proj, tmp_path / "dist")
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    twine = [sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar",
             "--repository-url", f"{base}/acme/dev/", "-u", "alice", "-p", "apw", "--cert", ca]

    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override twine's --cert
    # (documented in docs/tls.md); clear them as a user would
    no_env_ca = {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""}

    # twine without a client certificate: refused, the reason shown
    res = run([*twine, str(wheel)], check=False, env_extra=no_env_ca)
    assert res.returncode != 0 and "client_cert" in res.output, res.output
    # twine with bob's certificate (and password): refused, naming bob
    bob_twine = [a if a not in ("alice", "apw") else {"alice": "bob", "apw": "bpw"}[a] for a in twine]
    res = run([*bob_twine, "--client-cert", str(pki / "bob-bundle.pem"), str(wheel)], check=False,
              env_extra=no_env_ca)
    assert res.returncode != 0 and "user bob is not allowed to upload" in res.output, res.output
    # both refusals are audited with who and why; nothing was stored
    log = requests.get(f"{base}/+audit", auth=("root", ROOT_PASSWORD), verify=ca).json()["result"]
    refused = {e["actor"]: e for e in log if e["action"] == "blocked_upload" and e["target"] == "acme/dev"}
    assert set(refused) == {"alice", "bob"}, refused
    assert "missing: client_cert" in refused["alice"]["details"]["reason"]
    assert refused["bob"]["cert_fingerprint"] and refused["bob"]["details"]["credentials"] == [
        "password", "client_cert"]
    r = requests.get(f"{base}/acme/dev/+simple/acme-billing/", verify=ca)
    assert r.status_code == 404, r.text
    # twine with alice's certificate: stored
    run([*twine, "--client-cert", bundle, str(wheel)], env_extra=no_env_ca)

    # push to prod with the certificate (the airlock CLI)
    env = {"AIRLOCK_CLIENT_CONFIG": str(tmp_path / "client.json")}
    run([str(airlock_bin), "push", "acme-billing==1.0", "--from", "acme/dev", "--to", "acme/prod",
         "--url", base, "--ca", ca, "--client-cert", bundle], env_extra=env)

    index = f"{base}/acme/prod/+simple/"
    # pip without a certificate cannot install from the cert-only prod
    res = clients.pip("install", "--index-url", index, "--cert", ca, "--target", clients.fresh_dir("t"),
                      "acme-billing", check=False, env_extra=no_env_ca)
    assert res.returncode != 0, res.output
    # pip with the certificate
    target = clients.fresh_dir("pip")
    clients.pip("install", "--index-url", index, "--cert", ca, "--client-cert", bundle,
                "--target", target, "acme-billing", env_extra=no_env_ca)
    assert clients.import_from(target, "acme_billing") == "1.0"
    # uv with SSL_CLIENT_CERT
    target = clients.fresh_dir("uv")
    run([venv_tool("uv"), "pip", "install", "--no-cache", "--no-config", "--python", sys.executable,
         "--index-url", index, "--target", str(target), "acme-billing"],
        env_extra={"SSL_CERT_FILE": ca, "SSL_CLIENT_CERT": bundle})
    assert clients.import_from(target, "acme_billing") == "1.0"

    # curl: refused without a certificate (the reason in the body), served with one
    curl = ["curl", "-sS", "--cacert", ca, "-w", "\n%{http_code}"]
    res = run([*curl, index + "acme-billing/"], env_extra=no_env_ca)
    assert res.output.endswith("401") and "client_cert" in res.output, res.output
    res = run([*curl, "--cert", bundle, index + "acme-billing/"], env_extra=no_env_ca)
    assert res.output.endswith("200") and "acme_billing-1.0-py3-none-any.whl" in res.output, res.output
