"""The web UI in a real browser: Debian's Chromium driven by Playwright,
against the real airlock binary.

* a story: log in, browse, search, read a README, open the docs, review and
  approve a pending push as a second user (refused as the submitter), read
  the audit log; a screenshot of every page goes to
  target/e2e-artifacts/screenshots/;
* hostile content: READMEs, metadata and doc zips written to run script,
  load things, post forms or restyle the page; nothing of it may execute,
  reach the network or change the page, and what is shown is the sanitised
  text;
* CSRF and the session cookie: cross-origin posts and posts without a token
  are refused and change nothing, the cookie's flags, logout revokes;
* accessibility: axe-core (from npm, run inside the page) finds no serious
  or critical violation on the main pages.

tests/run.sh installs Chromium (apt), Playwright (PyPI, no browser download)
and axe-core (npm, into target/axe-core/).
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import os
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from conftest import REPO, ROOT_PASSWORD, ServerPool

CHROMIUM = os.environ.get("AIRLOCK_CHROMIUM", "/usr/bin/chromium")
AXE_JS = Path(os.environ.get("AIRLOCK_AXE_JS", REPO / "target/axe-core/node_modules/axe-core/axe.min.js"))
SHOTS = REPO / "target" / "e2e-artifacts" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}
# Pages answer in milliseconds: a locator that waits longer has failed.
TIMEOUT_MS = 8_000
# The flags of the issue. Playwright adds a fresh --user-data-dir of its own
# (a new temporary profile for every launch) and --headless.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ALICE = ("alice", "alice-pw-1")
BOB = ("bob", "bob-pw-2")
ROOT = ("root", ROOT_PASSWORD)

TEAM_POLICY = """\
[typosquat]
mode = "off"

[index."acme/dev"]
type = "stage"
bases = []
upload_users = ["alice"]

[index."acme/prod"]
type = "stage"
production = true
bases = []
accepts_push_from = ["acme/dev"]
push_users = ["alice"]
approve_users = ["alice", "bob"]

[index."acme/prod".require]
approvals = 1
"""

GOOD_README = """\
# acme-billing

Invoices and payment runs for **ACME**'s internal services.

## Install

```console
pip install acme-billing
```

| Feature  | Since |
|----------|-------|
| invoices | 1.0   |
| refunds  | 1.4   |

See the [changelog](https://example.org/changelog) and `acme_billing.run()`.
"""

# Every payload announces itself three ways if it ever runs: a dialog, a
# request to a /pwned-* URL, and a data-pwned attribute on <body>.
def _js(tag: str) -> str:
    return (f"alert('{tag}');fetch('/pwned-{tag}');"
            f"document.body.setAttribute('data-pwned','{tag}')")


HOSTILE_README = f"""\
# Hostile README

plain text survives

<script>{_js('script')}</script>

<img src="x" onerror="{_js('onerror')}">

<p onclick="{_js('onclick')}" id="clickme">click this paragraph</p>

[a javascript link](javascript:{_js('jslink')})

<a href="javascript:{_js('jshref')}">raw javascript link</a>

<a href="data:text/html,<script>{_js('datalink')}</script>">a data link</a>

<a href="JaVaScRiPt&#58;alert('entity')">entity-encoded link</a>

<svg onload="{_js('svgload')}"><script>{_js('svgscript')}</script><circle r="5"/></svg>

<iframe src="/+pushes" srcdoc="<script>{_js('srcdoc')}</script>"></iframe>

<form action="/+web/logout" method="post"><input name="csrf" value="x"><button id="hostile-submit">Press</button></form>

<object data="/+api"></object><embed src="/+api">

<style>body {{ display: none !important; }} main {{ visibility: hidden; }}</style>

<div style="position:fixed;top:0;left:0;width:100%;height:100%;background:red;z-index:9999">overlay text</div>

<details open ontoggle="{_js('toggle')}"><summary>details</summary>inside</details>

<math><mtext><table><mglyph><style><img src=x onerror="{_js('mxss')}"></style></mglyph></table></mtext></math>

<meta http-equiv="refresh" content="0;url=/pwned-meta">
<base href="http://127.0.0.2:9/">
<link rel="stylesheet" href="/pwned-css">

<img src="http://127.0.0.2:9/pwned-remote.png" alt="remote image">

<a href="https://example.org/ok">an ordinary link</a>
"""

# Bidi overrides (U+202E RIGHT-TO-LEFT OVERRIDE, U+2066 LEFT-TO-RIGHT
# ISOLATE) and markup in single-line metadata fields.
RLO, LRI = "\u202e", "\u2066"
HOSTILE_SUMMARY = f"evil{RLO}txt.exe <script>{_js('summary')}</script> {LRI}x"
HOSTILE_AUTHOR = f'<img src=x onerror="{_js("author")}"> Mallory{RLO}'
HOSTILE_INDEX_DESCRIPTION = f"team index {RLO}gnp.exe <b onmouseover=\"{_js('indexdesc')}\">bold</b>"

DOC_INDEX = """\
<!doctype html>
<html><head><meta charset="utf-8"><title>Hostile docs</title>
<script src="evil.js"></script></head>
<body>
<h1 id="h">Hostile docs</h1>
<pre id="out">nothing ran</pre>
<pre id="inline">inline script did not run</pre>
<script>document.getElementById('inline').textContent = 'INLINE RAN'; alert('doc-inline');</script>
<img src="x" onerror="alert('doc-onerror')">
<form id="f" action="/+web/logout" method="post"><input name="csrf" value="x"></form>
</body></html>
"""

# evil.js is same-origin script (allowed by the doc CSP's script-src 'self'),
# but the page is sandboxed: an opaque origin. It reports what it could reach
# in #out, and sets data-done when its requests have settled.
DOC_EVIL_JS = """\
var r = {};
function attempt(k, f) { try { r[k] = String(f()); } catch (e) { r[k] = 'threw ' + e.name; } }
attempt('cookie', function () { return document.cookie; });
attempt('parent_cookie', function () { return parent.document.cookie; });
attempt('parent_dom', function () { parent.document.body.setAttribute('data-pwned', 'doc'); return 'changed'; });
attempt('top_cookie', function () { return top.document.cookie; });
attempt('storage', function () { return localStorage.length; });
attempt('alert', function () { return alert('doc-alert'); });
attempt('confirm', function () { return confirm('doc-confirm'); });
// framed: try to take over the page around it (alone, it would only navigate itself)
if (window !== top) attempt('top_nav', function () { top.location.href = '/pwned-topnav'; return 'assigned'; });
var done = 0;
function settle(k, p) {
  p.then(function (resp) { r[k] = 'status ' + resp.status; return resp.text(); })
   .then(function (t) { if (t !== undefined) r[k + '_body'] = t.slice(0, 80); })
   .catch(function (e) { r[k] = r[k] || ('failed ' + e.name); })
   .finally(function () { if (++done === 2) { show(); document.body.setAttribute('data-done', '1'); } });
}
settle('api', fetch('/+api', { credentials: 'include' }));
settle('logout', fetch('/+web/logout', { method: 'POST', credentials: 'include',
  headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'csrf=x' }));
function show() { var o = document.getElementById('out'); if (o) o.textContent = JSON.stringify(r); }
document.addEventListener('DOMContentLoaded', show);
"""

GOOD_DOC_INDEX = """\
<!doctype html>
<html><head><meta charset="utf-8"><title>acme-billing documentation</title>
<link rel="stylesheet" href="style.css"></head>
<body><h1>acme-billing documentation</h1>
<p>Start with <a href="usage.html">usage</a>.</p></body></html>
"""


# --------------------------------------------------------------------------
# Fixtures: files, the server and its content, the browser
# --------------------------------------------------------------------------


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(out: Path, name: str, version: str, *, summary: str, author: str = "",
               readme: str = "", readme_type: str = "text/markdown") -> Path:
    """A minimal, valid pure-Python wheel with exactly the metadata given."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    meta = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {summary}\n"
            + (f"Author: {author}\n" if author else "")
            + f"Description-Content-Type: {readme_type}\n\n{readme}")
    files = {
        f"{dist}/__init__.py": f'VERSION = "{version}"\n'.encode(),
        f"{info}/METADATA": meta.encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: airlock-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{p},{_record_hash(d)},{len(d)}\n" for p, d in files.items()) + f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode()
    path = out / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for p, d in files.items():
            z.writestr(p, d)
    return path


def doc_zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for p, d in files.items():
            z.writestr(p, d)
    return buf.getvalue()


def upload(url: str, index: str, who, path: Path) -> None:
    data = path.read_bytes()
    r = requests.post(
        f"{url}/{index}/",
        data={":action": "file_upload", "sha256_digest": hashlib.sha256(data).hexdigest()},
        files={"content": (path.name, data)},
        auth=who, timeout=30,
    )
    assert r.status_code == 200, f"upload {path.name}: {r.status_code} {r.text}"


def upload_docs(url: str, index: str, who, name: str, version: str, zipped: bytes) -> None:
    r = requests.post(
        f"{url}/{index}/",
        data={":action": "doc_upload", "name": name, "version": version},
        files={"content": (f"{name}-{version}.doc.zip", zipped)},
        auth=who, timeout=30,
    )
    assert r.status_code == 200, f"doc upload {name}: {r.status_code} {r.text}"


def push(url: str, who, name: str, version: str) -> int:
    r = requests.post(f"{url}/acme/dev", json={"name": name, "version": version, "targetindex": "acme/prod"},
                      auth=who, headers={"Accept": "application/json"}, timeout=30)
    assert r.status_code == 202, f"push {name}: {r.status_code} {r.text}"
    return r.json()["push"]["pending_id"]


@dataclass
class Site:
    url: str
    server: object
    story_push: int  # acme-billing 1.4.0, pending: alice pushed, bob approves
    csrf_push: int  # acme-tools 1.0, pending: the CSRF attacks aim at it

    def push_status(self, push_id: int) -> str:
        r = requests.get(f"{self.url}/+pushes?status=all", auth=ROOT, headers={"Accept": "application/json"},
                         timeout=30)
        assert r.status_code == 200, r.text
        rows = r.json()["result"]
        (row,) = [p for p in rows if p["id"] == push_id]
        return row["status"]

    def prod_has(self, project: str) -> bool:
        return requests.get(f"{self.url}/acme/prod/+simple/{project}/", timeout=30).status_code == 200


@pytest.fixture(scope="module")
def site(airlock_bin, tmp_path_factory) -> Site:
    base = tmp_path_factory.mktemp("web")
    policies = base / "policies"
    policies.mkdir()
    (policies / "team.toml").write_text(TEAM_POLICY)
    pool = ServerPool(airlock_bin, base / "airlock")
    srv = pool.start("--policies", str(policies))
    try:
        url = srv.url
        srv.create_user(*ALICE)
        srv.create_user(*BOB)
        wheels = base / "wheels"
        wheels.mkdir()
        upload(url, "acme/dev", ALICE, make_wheel(wheels, "acme-billing", "1.4.0",
                                                  summary="Invoices and payment runs", author="ACME platform team",
                                                  readme=GOOD_README))
        upload(url, "acme/dev", ALICE, make_wheel(wheels, "acme-tools", "1.0",
                                                  summary="Small helpers", readme="# acme-tools\n"))
        upload_docs(url, "acme/dev", ALICE, "acme-billing", "1.4.0", doc_zip({
            "index.html": GOOD_DOC_INDEX,
            "usage.html": "<!doctype html><title>usage</title><h1>Usage</h1><p>Call run().</p>",
            "style.css": "body { font-family: serif; margin: 2em; } h1 { color: #2a4d69; }",
        }))
        srv.create_index(ALICE, "hostile", description=HOSTILE_INDEX_DESCRIPTION)
        upload(url, "alice/hostile", ALICE, make_wheel(wheels, "hostile-pkg", "6.6.6", summary=HOSTILE_SUMMARY,
                                                       author=HOSTILE_AUTHOR, readme=HOSTILE_README))
        upload_docs(url, "alice/hostile", ALICE, "hostile-pkg", "6.6.6",
                    doc_zip({"index.html": DOC_INDEX, "evil.js": DOC_EVIL_JS}))
        story = push(url, ALICE, "acme-billing", "1.4.0")
        csrf = push(url, ALICE, "acme-tools", "1.0")
        yield Site(url, srv, story, csrf)
    finally:
        pool.stop_all()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: run tests/run.sh (it installs tests/e2e/requirements.txt)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium (tests/run.sh does)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Watch:
    """Everything a page does that content must not make it do: dialogs,
    requests, console messages, navigations."""

    def __init__(self, page):
        self.dialogs: list[str] = []
        self.requests: list[object] = []
        self.console: list[str] = []
        page.on("dialog", self._dialog)
        page.on("request", lambda r: self.requests.append(r))
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))

    def _dialog(self, d):
        self.dialogs.append(f"{d.type}: {d.message}")
        d.dismiss()

    def urls(self) -> list[str]:
        return [r.url for r in self.requests]


def new_page(browser, **opts):
    ctx = browser.new_context(viewport=VIEWPORT, **opts)
    ctx.set_default_timeout(TIMEOUT_MS)
    return ctx, ctx.new_page()


def login(browser, site: Site, who) -> tuple[object, object]:
    ctx, page = new_page(browser)
    page.goto(f"{site.url}/+login")
    page.fill("#login-user", who[0])
    page.fill("#login-password", who[1])
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert page.locator("header .who .user").inner_text() == who[0], page.content()
    return ctx, page


def shot(page, name: str, full_page: bool = False) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 1000, f"empty screenshot {path}"
    return path


def csrf_of(page) -> str:
    token = page.locator("header form[action='/+web/logout'] input[name=csrf]").get_attribute("value")
    assert token and len(token) == 32
    return token


# --------------------------------------------------------------------------
# The story
# --------------------------------------------------------------------------


def test_story_login_browse_search_docs_approve_audit(browser, site):
    ctx, page = new_page(browser)
    page.goto(site.url + "/")
    assert page.locator("main > h1").inner_text() == "Indexes"
    shot(page, "01-home-anonymous")
    page.click("header >> text=Log in")
    assert page.url.startswith(site.url + "/+login")
    page.fill("#login-user", ALICE[0])
    page.fill("#login-password", "wrong password")
    page.click("main form button[type=submit]")
    assert "alert" == page.locator("main .error-message").get_attribute("role")
    shot(page, "02-login-refused")
    page.fill("#login-user", ALICE[0])
    page.fill("#login-password", ALICE[1])
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert page.locator("header .who .user").inner_text() == "alice"

    # browse: home -> index -> project -> version
    page.click("main a[href='/acme/dev']")
    assert page.locator("main > h1").inner_text().startswith("acme/dev")
    shot(page, "03-index")
    page.click("main a:text-is('acme-billing')")
    assert page.locator("main > h1").inner_text() == "acme-billing"
    shot(page, "04-project")
    page.click("main a:text-is('1.4.0')")
    assert page.locator("main > h1").inner_text() == "acme-billing 1.4.0"
    assert page.locator("p.lead").inner_text() == "Invoices and payment runs"
    shot(page, "05-version")

    # the docs, in the chrome, from the version page
    page.goto(f"{site.url}/acme/dev/acme-billing/1.4.0")
    page.click("main a:text-is('documentation')")
    assert page.url == f"{site.url}/acme/dev/acme-billing/1.4.0/+doc/"
    frame = page.frame_locator("iframe.docs")
    assert frame.locator("h1").inner_text() == "acme-billing documentation"
    frame.locator("a:text-is('usage')").click()
    assert frame.locator("h1").inner_text() == "Usage"
    shot(page, "07-docs")

    # alice pushed acme-billing: she sees the review but may not decide
    page.goto(site.url + "/+pushes")
    assert page.locator(f"main a[href='/+pushes/{site.story_push}']").count() >= 1
    shot(page, "08-pushes")
    page.goto(f"{site.url}/+pushes/{site.story_push}")
    assert page.locator("main form[action$='/approve']").count() == 0
    assert "You pushed this release" in page.locator("main").inner_text()
    # ... and a forged approve post with her own valid token is refused too
    status = page.evaluate(
        """([id, csrf]) => fetch('/+web/pushes/' + id + '/approve', {method: 'POST',
             headers: {'content-type': 'application/x-www-form-urlencoded'}, body: 'csrf=' + csrf})
             .then(r => r.status)""",
        [site.story_push, csrf_of(page)],
    )
    assert status == 403, status
    assert site.push_status(site.story_push) == "pending"
    ctx.close()

    # bob, an approver, reviews and approves (the confirm dialog is accepted)
    ctx, page = login(browser, site, BOB)
    dialogs = []

    def accept(d):
        dialogs.append(d.message)
        d.accept()

    page.on("dialog", accept)
    page.goto(f"{site.url}/+pushes/{site.story_push}")
    assert page.locator("main > h1").inner_text() == f"Push #{site.story_push}: acme-billing 1.4.0"
    shot(page, "09-push-review")
    with page.expect_navigation():
        page.click("main form[action$='/approve'] button")
    assert dialogs == [f"Approve push #{site.story_push}?"]
    assert page.url == f"{site.url}/+pushes/{site.story_push}"
    assert site.push_status(site.story_push) != "pending"
    assert site.prod_has("acme-billing"), "the approved push did not land"
    assert page.locator("main form[action$='/approve']").count() == 0
    shot(page, "10-push-approved")
    ctx.close()

    # root reads the audit log: the pending push and bob's approval are there
    ctx, page = login(browser, site, ROOT)
    page.goto(site.url + "/+audit")
    text = page.locator("main").inner_text()
    assert "push_pending" in text and "approve" in text, text
    rows = page.locator("main table tbody tr")
    assert any("bob" in rows.nth(i).inner_text() and "approve" in rows.nth(i).inner_text()
               for i in range(rows.count())), text
    shot(page, "11-audit")
    page.goto(site.url + "/+status")
    shot(page, "12-status")

    ctx.close()


def needs(page, feature: str) -> None:
    """Rendered READMEs and the search page land on main separately (issue
    16); until a build has them, their steps are skipped, loudly. Once the
    page has the feature, every assertion below is strict."""
    if feature == "search" and "user +search does not exist" in page.locator("main").inner_text():
        pytest.skip("this airlock has no /+search page yet")
    if feature == "readme" and page.locator("main h2:text-is('Description')").count() == 0:
        pytest.skip("this airlock renders no README yet (no Description section)")


def test_story_search_and_readme(browser, site):
    ctx, page = login(browser, site, ALICE)
    # search from the header, follow a hit, read its README
    page.fill("#site-search", "billing")
    with page.expect_navigation():
        page.press("#site-search", "Enter")
    assert "/+search?q=billing" in page.url
    needs(page, "search")
    hits = page.locator("main a[href*='acme-billing']")
    assert hits.count() >= 1, page.content()
    shot(page, "06-search")
    page.goto(f"{site.url}/acme/dev/acme-billing/1.4.0")
    needs(page, "readme")
    readme = page.locator("div.readme")
    assert readme.locator("h1").inner_text() == "acme-billing"
    assert readme.locator("table td").first.inner_text() == "invoices"
    assert "pip install acme-billing" in readme.locator("pre code").inner_text()
    assert readme.locator("a[href='https://example.org/changelog']").inner_text() == "changelog"
    shot(page, "05-version-readme")
    shot(page, "05-version-readme-full", full_page=True)
    ctx.close()


# --------------------------------------------------------------------------
# Hostile content
# --------------------------------------------------------------------------

# Collected on the page after it settled: anything active inside the
# sanitised README, and what the page looks like.
README_AUDIT = """() => {
  const root = document.querySelector('div.readme');
  if (!root) return null;
  const bad = [];
  for (const el of root.querySelectorAll('*')) {
    const tag = el.tagName.toLowerCase();
    if (['script', 'iframe', 'frame', 'form', 'input', 'button', 'object', 'embed', 'style', 'link', 'meta',
         'base', 'svg', 'math', 'textarea', 'select'].includes(tag)) bad.push('element ' + tag);
    for (const a of el.attributes) {
      const v = a.value.trim().toLowerCase().replace(/[\\s\\u0000-\\u001f]/g, '');
      if (a.name.startsWith('on')) bad.push(tag + ' ' + a.name);
      if (a.name === 'style' || a.name === 'srcdoc' || a.name === 'formaction') bad.push(tag + ' ' + a.name);
      if (/^(javascript|data|vbscript):/.test(v)) bad.push(tag + ' ' + a.name + '=' + v.slice(0, 20));
    }
    const pos = getComputedStyle(el).position;
    if (pos === 'fixed' || pos === 'absolute') bad.push(tag + ' position ' + pos);
  }
  return {bad, text: root.innerText, html: root.innerHTML};
}"""

WATCH_DOM = """() => {
  window.__mutations = [];
  new MutationObserver(list => {
    for (const m of list) {
      // airlock.js adds its copy buttons beside digests: expected
      const added = [...m.addedNodes].filter(n => !(n.classList && n.classList.contains('copy')));
      // the reader's own click on a <summary> opens its <details>: the
      // browser's doing, not the content's (ontoggle must still not run)
      if (m.type === 'attributes' && m.target.nodeName === 'DETAILS' && m.attributeName === 'open') continue;
      if (m.type === 'childList' && added.length === 0 && m.removedNodes.length === 0) continue;
      if (m.type === 'childList' && added.length === 0 && [...m.removedNodes].every(n => n.nodeType === 3)) continue;
      if (m.type === 'characterData' && m.target.parentElement && m.target.parentElement.classList.contains('copy')) continue;
      window.__mutations.push(m.type + ' ' + (m.target.nodeName || '') + ' ' + (m.attributeName || '')
        + ' ' + added.map(n => n.nodeName).join(','));
    }
  }).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
}"""


def settle(page, ms: int = 800) -> None:
    page.wait_for_load_state("load")
    page.wait_for_timeout(ms)


def assert_quiet(watch: Watch, site: Site) -> None:
    assert watch.dialogs == [], f"content opened a dialog: {watch.dialogs}"
    assert not [u for u in watch.urls() if "pwned" in u], f"content made a request: {watch.urls()}"
    foreign = [u for u in watch.urls() if not u.startswith(site.url + "/")]
    assert foreign == [], f"requests off the site: {foreign}"
    refused_scripts = [c for c in watch.console if "script" in c.lower() and "refused" in c.lower()]
    assert refused_scripts == [], f"script reached the page (stopped only by the CSP): {refused_scripts}"


def test_hostile_readme_and_metadata_do_nothing(browser, site):
    ctx, page = login(browser, site, ALICE)  # a session is there to steal
    watch = Watch(page)
    page.add_init_script(f"document.addEventListener('DOMContentLoaded', {WATCH_DOM})")
    page.goto(f"{site.url}/alice/hostile/hostile-pkg/6.6.6")
    settle(page)
    # interact the way a reader would: hover and click what the README shows
    page.hover("main")
    for text in ("click this paragraph", "details", "overlay text"):
        loc = page.locator(f"main :text-is('{text}')")
        if loc.count():
            loc.first.click()
    settle(page, 400)
    # (checked before any screenshot: taking one restyles inputs)
    mutations = page.evaluate("window.__mutations")
    assert mutations == [], f"content changed the page: {mutations}"
    shot(page, "20-hostile-version")
    shot(page, "20-hostile-version-full", full_page=True)

    assert_quiet(watch, site)
    assert page.evaluate("document.body.getAttribute('data-pwned')") is None
    assert page.title() == "hostile-pkg 6.6.6 · airlock"
    assert page.url == f"{site.url}/alice/hostile/hostile-pkg/6.6.6", "content navigated the page"
    assert page.locator("main > h1").is_visible(), "a README style hid the page"
    # clicking the README's text scrolled the page; the header is measured from the top
    page.evaluate("window.scrollTo(0, 0)")
    box = page.locator("header.site").bounding_box()
    assert box and box["y"] >= 0 and page.locator("header.site").is_visible()

    # single-line metadata: markup is text, bidi controls are shown as code points
    lead = page.locator("main p.lead").inner_text()
    assert "<script>" in lead and "<U+202E>" in lead and "<U+2066>" in lead and RLO not in lead, lead
    main = page.locator("main").inner_text()
    assert "Mallory<U+202E>" in main and '<img src=x onerror="' in main, main
    assert RLO not in main, "a raw right-to-left override reached the page"

    # the README: nothing active survived, and what is shown is the sanitised text
    needs(page, "readme")
    found = page.evaluate(README_AUDIT)
    assert found is not None, "the version page shows no README (div.readme)"
    assert found["bad"] == [], f"active content survived sanitising: {found['bad']}\n{found['html']}"
    readme = page.locator("div.readme")
    assert readme.locator("h1").inner_text() == "Hostile README"
    assert readme.locator("text=plain text survives").is_visible()
    assert readme.locator("a[href='https://example.org/ok']").is_visible()
    for text in ("a javascript link", "raw javascript link", "a data link", "entity-encoded link"):
        link = readme.locator(f":text-is('{text}')")
        assert link.count() == 1, f"{text!r} is not shown"
        link.click()
    settle(page, 300)
    assert page.url == f"{site.url}/alice/hostile/hostile-pkg/6.6.6", "a README link navigated"
    assert_quiet(watch, site)
    assert page.evaluate("document.body.getAttribute('data-pwned')") is None
    ctx.close()


def test_hostile_index_and_project_pages(browser, site):
    ctx, page = login(browser, site, ALICE)
    watch = Watch(page)
    # the index page: its description and the project's summary in the list
    page.goto(f"{site.url}/alice/hostile")
    settle(page)
    main = page.locator("main").inner_text()
    assert "team index <U+202E>gnp.exe" in main and "<b onmouseover=" in main, main
    assert "evil<U+202E>txt.exe" in main and RLO not in main
    assert page.locator("main b").count() == 0
    page.hover("main")
    shot(page, "21-hostile-index")
    page.goto(f"{site.url}/alice/hostile/hostile-pkg")
    settle(page)
    main = page.locator("main").inner_text()
    assert "evil<U+202E>txt.exe" in main and RLO not in main, main
    assert_quiet(watch, site)
    assert page.evaluate("document.body.getAttribute('data-pwned')") is None
    ctx.close()


DOC_RESULT = "() => document.getElementById('out').textContent"


def _check_doc_results(r: dict) -> None:
    """What the doc's script could reach from its sandbox: nothing of the
    index's session."""
    for k in ("cookie", "parent_cookie", "top_cookie"):
        assert "airlock" not in r[k], f"{k}: {r[k]}"
    assert r["parent_cookie"].startswith("threw"), r
    assert r["parent_dom"].startswith("threw"), r
    assert r["storage"].startswith("threw"), r
    # the API answered as it answers anyone (no session in the API), or the
    # read was blocked; the logout post was refused
    assert r["logout"] != "status 303", r
    assert "alice" not in r.get("api_body", ""), r


def test_hostile_docs_reach_nothing(browser, site):
    ctx, page = login(browser, site, ALICE)
    session = [c for c in ctx.cookies() if c["name"] == "airlock_session"]
    assert len(session) == 1
    watch = Watch(page)
    page.add_init_script(f"document.addEventListener('DOMContentLoaded', {WATCH_DOM})")
    chrome_url = f"{site.url}/alice/hostile/hostile-pkg/6.6.6/+doc/"
    page.goto(chrome_url)
    frame_el = page.locator("iframe.docs")
    sandbox = frame_el.get_attribute("sandbox").split()
    assert "allow-same-origin" not in sandbox and "allow-modals" not in sandbox, sandbox
    frame = page.frame_locator("iframe.docs")
    frame.locator("body[data-done='1']").wait_for(timeout=10_000)
    settle(page, 500)
    mutations = page.evaluate("window.__mutations")  # before the screenshot, which restyles inputs
    shot(page, "22-hostile-docs")

    results = json.loads(frame.locator("#out").inner_text())
    print("framed docs reached:", results)
    _check_doc_results(results)
    assert frame.locator("#inline").inner_text() == "inline script did not run"
    assert watch.dialogs == [], f"the docs opened a dialog: {watch.dialogs}"
    assert page.url == chrome_url, "the docs navigated the page"
    assert page.evaluate("document.body.getAttribute('data-pwned')") is None
    assert mutations == [], f"the docs changed the page around them: {mutations}"
    assert not [u for u in watch.urls() if "pwned" in u], watch.urls()
    # what the docs' requests carried: never the session cookie
    from_docs = [r for r in watch.requests if r.url.endswith(("/+api", "/+web/logout"))]
    assert len(from_docs) == 2, [r.url for r in watch.requests]
    for r in from_docs:
        headers = r.all_headers()
        assert session[0]["value"] not in headers.get("cookie", ""), f"{r.url} carried the session"
        assert headers.get("origin") in (None, "null"), headers

    # the page alone (the "open the page alone" link): sandboxed by its CSP
    page.goto(f"{site.url}/alice/hostile/hostile-pkg/6.6.6/+d/index.html")
    page.locator("body[data-done='1']").wait_for(timeout=10_000)
    results = json.loads(page.evaluate(DOC_RESULT))
    assert results["cookie"].startswith("threw"), results
    _check_doc_results(results)
    assert page.locator("#inline").inner_text() == "inline script did not run"
    assert watch.dialogs == [], watch.dialogs
    assert not [u for u in watch.urls() if "pwned" in u], watch.urls()

    # and alice is still logged in: the docs' logout post changed nothing
    page.goto(site.url + "/")
    assert page.locator("header .who .user").inner_text() == "alice"
    ctx.close()


# --------------------------------------------------------------------------
# CSRF and the session cookie
# --------------------------------------------------------------------------


class EvilSite:
    """Another origin (127.0.0.1 on another port) serving one page."""

    def __init__(self):
        self.page = b""
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(outer.page)))
                self.end_headers()
                self.wfile.write(outer.page)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def serve_form(self, action: str, fields: dict[str, str]) -> None:
        inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items())
        self.page = (f'<!doctype html><title>win a prize</title><form id="f" method="post" action="{action}">'
                     f'{inputs}</form><script>document.getElementById("f").submit()</script>').encode()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def evil():
    e = EvilSite()
    try:
        yield e
    finally:
        e.close()


def test_cross_origin_and_tokenless_posts_change_nothing(browser, site, evil):
    ctx, page = login(browser, site, BOB)
    token = csrf_of(page)
    target = f"{site.url}/+web/pushes/{site.csrf_push}"

    # another origin posts bob's forms, even knowing his token (a leak): refused by Origin
    for action, fields in ((f"{target}/approve", {"csrf": token}),
                           (f"{target}/reject", {"csrf": token, "reason": "forged"}),
                           (f"{site.url}/+web/logout", {"csrf": token})):
        evil.serve_form(action, fields)
        with page.expect_response(action) as resp:
            page.goto(evil.url)
        assert resp.value.status == 403, (action, resp.value.status)
        page.wait_for_load_state()
        assert "accepted from" in page.locator("main").inner_text()
    shot(page, "30-csrf-refused")
    assert site.push_status(site.csrf_push) == "pending"

    # from airlock's own page, without a token, with a wrong one, with another user's
    page.goto(f"{site.url}/+pushes/{site.csrf_push}")
    for body in ("reason=r", "csrf=&reason=r", f"csrf={'0' * 32}&reason=r", f"csrf={token[:-1]}x&reason=r"):
        for verb in ("approve", "reject"):
            status = page.evaluate(
                """([url, body]) => fetch(url, {method: 'POST',
                     headers: {'content-type': 'application/x-www-form-urlencoded'},
                     body: body}).then(r => r.status)""",
                [f"/+web/pushes/{site.csrf_push}/{verb}", body],
            )
            assert status == 403, (verb, body, status)
    assert site.push_status(site.csrf_push) == "pending"
    assert not site.prod_has("acme-tools")
    # the session survived all of it
    page.goto(site.url + "/")
    assert page.locator("header .who .user").inner_text() == "bob"
    ctx.close()

    # a login posted from another origin sets no session
    ctx, page = new_page(browser)
    page.goto(site.url + "/+login")  # the pre-login cookie is there
    login_token = page.locator("main form input[name=csrf]").get_attribute("value")
    evil.serve_form(f"{site.url}/+web/login", {"user": BOB[0], "password": BOB[1], "csrf": login_token, "next": "/"})
    with page.expect_response(f"{site.url}/+web/login") as resp:
        page.goto(evil.url)
    assert resp.value.status == 403
    assert [c for c in ctx.cookies() if c["name"] == "airlock_session"] == []
    ctx.close()


def test_session_cookie_flags_and_logout_revokes(browser, site):
    before = time.time()
    ctx, page = login(browser, site, BOB)
    (cookie,) = [c for c in ctx.cookies() if c["name"] == "airlock_session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/"
    assert cookie["domain"] == "127.0.0.1", "the cookie must be host-only"
    assert cookie["secure"] is False  # plain HTTP here; the TLS listener adds Secure and __Host-
    assert before < cookie["expires"] <= before + 7 * 86400 + 60, cookie
    assert len(cookie["value"]) >= 32
    assert "airlock_session" not in page.evaluate("document.cookie"), "script can read the session"
    # the pre-login cookie is gone
    assert [c["name"] for c in ctx.cookies()] == ["airlock_session"]
    # the session is the web UI's only: the API does not honour it
    r = requests.get(f"{site.url}/+pushes", headers={"Accept": "application/json",
                                                      "Cookie": f"airlock_session={cookie['value']}"}, timeout=30)
    assert r.status_code == 401, r.status_code

    page.goto(f"{site.url}/+pushes")
    assert page.locator(f"main a[href='/+pushes/{site.csrf_push}']").count() >= 1
    with page.expect_navigation():
        page.click("header form[action='/+web/logout'] button")
    assert page.url == site.url + "/"
    assert page.locator("header a:text-is('Log in')").is_visible()
    assert [c for c in ctx.cookies() if c["name"] == "airlock_session"] == []
    shot(page, "31-logged-out")
    ctx.close()

    # the old cookie, replayed in a fresh browser, is nobody's
    ctx, page = new_page(browser)
    ctx.add_cookies([{k: cookie[k] for k in ("name", "value", "domain", "path", "httpOnly", "sameSite")}])
    resp = page.goto(f"{site.url}/+pushes")
    assert resp.status == 401, resp.status
    assert page.locator("header a:text-is('Log in')").is_visible()
    ctx.close()
    r = requests.get(f"{site.url}/+pushes", headers={"Accept": "text/html",
                                                      "Cookie": f"airlock_session={cookie['value']}"}, timeout=30)
    assert r.status_code == 401 and 'href="/+login"' in r.text


# --------------------------------------------------------------------------
# Accessibility
# --------------------------------------------------------------------------


def test_axe_finds_no_serious_violations(browser, site):
    if not AXE_JS.is_file():
        pytest.fail(f"axe-core not found at {AXE_JS}: tests/run.sh installs it from npm (or set AIRLOCK_AXE_JS)")
    axe = AXE_JS.read_text()
    ctx, page = login(browser, site, ROOT)
    pages = [
        "/", "/acme/dev", "/acme/dev/acme-billing", "/acme/dev/acme-billing/1.4.0",
        "/acme/dev/acme-billing/1.4.0/+doc/", "/+search?q=acme", "/+pushes", f"/+pushes/{site.csrf_push}",
        "/+audit", "/+alerts", "/+status", "/+typo/check", "/alice/hostile/hostile-pkg/6.6.6", "/no/such/page",
    ]
    report = {}
    for path in pages:
        page.goto(site.url + path)
        # evaluated by the driver, so the page's CSP (no inline script) does not stop it
        page.evaluate(axe)
        result = page.evaluate(
            "() => axe.run(document, {iframes: false, resultTypes: ['violations']})"
            ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))"
        )
        serious = [v for v in result if v["impact"] in ("serious", "critical")]
        if serious:
            report[path] = serious
    ctx.close()
    # the login page, anonymous
    ctx, page = new_page(browser)
    page.goto(site.url + "/+login")
    page.evaluate(axe)
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations"
                           ".filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => v.id))")
    if result:
        report["/+login"] = result
    ctx.close()
    assert report == {}, json.dumps(report, indent=1)
