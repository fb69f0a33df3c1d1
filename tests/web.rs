//! The web UI from the outside, over HTTP with the real binary: content
//! negotiation leaves every API answer alone, pages carry their security
//! headers, sessions and their cookies, CSRF and origin checks on every
//! form, four-eyes approval through the forms, escaping of hostile text.
//! (Pages in a real browser: tests/e2e/test_web.py.)

mod common;
#[path = "common/fake_upstream.rs"]
mod fake_upstream;

use std::io::Write;

use common::*;
use reqwest::blocking::Response;
use serde_json::{json, Value};

const BROWSER: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

fn get(s: &Server, path: &str, accept: Option<&str>, cookie: Option<&str>) -> Response {
    let mut r = client().get(s.url(path));
    if let Some(a) = accept {
        r = r.header("Accept", a);
    }
    if let Some(c) = cookie {
        r = r.header("Cookie", c);
    }
    r.send().unwrap()
}

fn is_html(r: &Response) -> bool {
    r.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/html"))
}

/// A wheel whose METADATA is `meta` (for hostile metadata).
fn wheel_with(dist: &str, version: &str, meta: &str) -> (String, Vec<u8>) {
    let filename = format!("{dist}-{version}-py3-none-any.whl");
    let info = format!("{dist}-{version}.dist-info");
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let o = zip::write::SimpleFileOptions::default();
        z.start_file(format!("{dist}/__init__.py"), o).unwrap();
        z.write_all(b"X = 1\n").unwrap();
        z.start_file(format!("{info}/METADATA"), o).unwrap();
        z.write_all(meta.as_bytes()).unwrap();
        z.start_file(format!("{info}/WHEEL"), o).unwrap();
        z.write_all(
            b"Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        .unwrap();
        z.start_file(format!("{info}/RECORD"), o).unwrap();
        z.finish().unwrap();
    }
    (filename, buf.into_inner())
}

#[test]
fn api_answers_do_not_change_for_clients_that_do_not_ask_for_html() {
    let s = Server::start();
    let (n, b) = wheel("demo_pkg", "1.0", "demo-pkg");
    assert_eq!(upload(&s, "root/dev", root(), &n, b, &[]).status(), 200);
    let pip = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
    let accepts = [
        None,
        Some("*/*"),
        Some("application/json"),
        Some(pip),
        Some("application/vnd.pypi.simple.v1+json"),
        // JSON preferred over HTML
        Some("application/json, text/html;q=0.5"),
    ];
    for path in [
        "/",
        "/root",
        "/root/dev",
        "/root/dev/demo-pkg",
        "/root/dev/demo-pkg/1.0",
        "/+status",
        "/root/dev/+simple/",
        "/root/dev/+simple/demo-pkg/",
        "/root/dev/+api",
    ] {
        for accept in accepts {
            let plain = get(&s, path, accept, None);
            assert!(
                !is_html(&plain) || path.contains("+simple"),
                "{path} {accept:?} became a page"
            );
            assert!(
                plain.headers().get("content-security-policy").is_none(),
                "{path} {accept:?}: an API answer got the page CSP"
            );
            let status = plain.status();
            let body = plain.bytes().unwrap();
            // a browser's session cookie never changes what the API says
            let with_cookie = get(
                &s,
                path,
                accept,
                Some("airlock_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            );
            assert_eq!(with_cookie.status(), status, "{path} {accept:?}");
            assert_eq!(with_cookie.bytes().unwrap(), body, "{path} {accept:?}");
        }
    }
    // a browser asking for the simple page gets the simple page, not the UI
    let simple = get(&s, "/root/dev/+simple/demo-pkg/", Some(BROWSER), None);
    assert_eq!(simple.status(), 200);
    let text = simple.text().unwrap();
    assert!(
        text.contains("demo_pkg-1.0-py3-none-any.whl#sha256="),
        "{text}"
    );
    assert!(!text.contains("/+static/airlock-"), "{text}");
    // release files stay files
    let v: Value = get(&s, "/root/dev/demo-pkg/1.0", Some("application/json"), None)
        .json()
        .unwrap();
    let href = v["result"]["+links"][0]["href"]
        .as_str()
        .unwrap()
        .to_string();
    let file = client()
        .get(&href)
        .header("Accept", BROWSER)
        .send()
        .unwrap();
    assert_eq!(file.status(), 200);
    assert!(!is_html(&file));
}

#[test]
fn browser_pages_carry_a_strict_policy_and_no_inline_code() {
    let s = Server::start();
    let (n, b) = wheel("demo_pkg", "1.0", "demo-pkg");
    assert_eq!(
        upload(&s, "root/dev", root(), &n, b.clone(), &[]).status(),
        200
    );
    for (path, expect) in [
        ("/", "root/dev"),
        ("/root", "root/dev"),
        ("/root/dev", "demo-pkg"),
        ("/root/dev/demo-pkg", "1.0"),
        ("/root/dev/demo-pkg/1.0", &sha256_hex(&b)[..]),
        ("/root/dev/demo-pkg/latest", "demo_pkg-1.0-py3-none-any.whl"),
        ("/+status", "root/pypi"),
        ("/+login", "Log in"),
        ("/+typo/check?name=reqeusts", "requests"),
    ] {
        let r = get(&s, path, Some(BROWSER), None);
        assert_eq!(r.status(), 200, "{path}");
        assert!(is_html(&r), "{path}");
        let h = r.headers().clone();
        let csp = h["content-security-policy"].to_str().unwrap().to_string();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        let body = r.text().unwrap();
        assert!(body.contains(expect), "{path} lacks {expect:?}");
        // every script is a file of ours; no inline handlers or styles
        for (i, _) in body.match_indices("<script") {
            let tag = &body[i..body[i..].find('>').map(|e| i + e).unwrap()];
            assert!(
                tag.contains("src=\"/+static/"),
                "{path}: inline script {tag}"
            );
        }
        assert!(!body.contains(" style="), "{path}: inline style");
        assert!(!body.contains(" onclick="), "{path}: inline handler");
        assert!(!body.contains("<style"), "{path}: style element");
    }
    // the assets are served, cacheable, with their types
    let page = get(&s, "/", Some(BROWSER), None).text().unwrap();
    let css = page
        .split("href=\"")
        .find_map(|p| p.split('"').next().filter(|u| u.ends_with(".css")))
        .unwrap()
        .to_string();
    let r = get(&s, &css, None, None);
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert_eq!(
        get(&s, "/+static/airlock-0000.css", None, None).status(),
        404
    );
    // unknown things are a 404 page, not a 500
    let r = get(&s, "/root/nope", Some(BROWSER), None);
    assert_eq!(r.status(), 404);
    assert!(is_html(&r));
    let r = get(&s, "/root/dev/demo-pkg/9.9", Some(BROWSER), None);
    assert_eq!(r.status(), 404);
    assert!(r
        .text()
        .unwrap()
        .contains("demo-pkg 9.9 is not on index root/dev"));
}

#[test]
fn hostile_metadata_is_shown_as_text() {
    let s = Server::start();
    let meta = "Metadata-Version: 2.1\nName: evil-pkg\nVersion: 1.0\n\
        Summary: <script>alert(1)</script><img src=x onerror=alert(2)> \u{202E}gnp.exe\n\
        Author: <b onmouseover=alert(3)>x</b>\n\
        Home-page: javascript:alert(4)\n\n";
    let (n, b) = wheel_with("evil_pkg", "1.0", meta);
    assert_eq!(upload(&s, "root/dev", root(), &n, b, &[]).status(), 200);
    for path in ["/root/dev", "/root/dev/evil-pkg", "/root/dev/evil-pkg/1.0"] {
        let body = get(&s, path, Some(BROWSER), None).text().unwrap();
        assert!(!body.contains("<script>alert"), "{path}");
        assert!(!body.contains("<img src=x"), "{path}");
        assert!(!body.contains("<b onmouseover"), "{path}");
        assert!(
            body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}: {body}"
        );
        assert!(
            !body.contains('\u{202E}'),
            "{path}: a bidi override reached the page"
        );
        assert!(body.contains("&lt;U+202E&gt;gnp.exe"), "{path}");
        assert!(!body.contains("href=\"javascript:"), "{path}");
    }
}

/// Log in through the form; returns the session cookie (`name=value`).
fn login(s: &Server, user: &str, password: &str) -> String {
    let r = get(s, "/+login?next=/root", Some(BROWSER), None);
    let pre = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(pre.starts_with("airlock_login="), "{pre}");
    let pre = pre.split(';').next().unwrap().to_string();
    let page = r.text().unwrap();
    let csrf = hidden(&page, "csrf");
    let r = client()
        .post(s.url("/+web/login"))
        .header("Origin", s.base.trim_end_matches('/'))
        .header("Cookie", &pre)
        .form(&[
            ("user", user),
            ("password", password),
            ("csrf", &csrf),
            ("next", "/root"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().unwrap_or_default());
    assert_eq!(r.headers()["location"], "/root");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("airlock_session="))
        .expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP cannot set a Secure cookie: {cookie}"
    );
    cookie.split(';').next().unwrap().to_string()
}

fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let i = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {page}"))
        + marker.len();
    page[i..i + page[i..].find('"').unwrap()].to_string()
}

#[test]
fn sessions_live_in_the_ui_only_and_end_on_logout_and_password_change() {
    let s = Server::start();
    create_user(&s, "alice", "alice-pw-1");
    let cookie = login(&s, "alice", "alice-pw-1");
    let page = get(&s, "/", Some(BROWSER), Some(&cookie)).text().unwrap();
    assert!(page.contains("<span class=\"user\""), "logged in: {page}");
    assert!(page.contains(">alice<"));
    // the API does not know the cookie: still anonymous there
    let api = get(&s, "/+pushes", Some("application/json"), Some(&cookie));
    assert!(
        api.status() == 401 || api.status() == 403,
        "{}",
        api.status()
    );

    // logout needs the token, and ends the session
    let csrf = hidden(&page, "csrf");
    let r = client()
        .post(s.url("/+web/logout"))
        .header("Origin", s.base.trim_end_matches('/'))
        .header("Cookie", &cookie)
        .form(&[("csrf", "0".repeat(32).as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 403, "a wrong token does not log out");
    let r = client()
        .post(s.url("/+web/logout"))
        .header("Origin", s.base.trim_end_matches('/'))
        .header("Cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let page = get(&s, "/", Some(BROWSER), Some(&cookie)).text().unwrap();
    assert!(
        page.contains("href=\"/+login\""),
        "the old cookie opens nothing"
    );

    // a password change ends every session of the user
    let cookie = login(&s, "alice", "alice-pw-1");
    let r = client()
        .patch(s.url("/alice"))
        .basic_auth("alice", Some("alice-pw-1"))
        .json(&json!({"password": "alice-pw-2"}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    let page = get(&s, "/", Some(BROWSER), Some(&cookie)).text().unwrap();
    assert!(
        page.contains("href=\"/+login\""),
        "session survived a password change"
    );

    // wrong and empty passwords: a form again, with the reason
    for (pw, why) in [
        ("nope", "invalid user name or password"),
        ("", "no password given"),
    ] {
        let r = get(&s, "/+login", Some(BROWSER), None);
        let pre = r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let csrf = hidden(&r.text().unwrap(), "csrf");
        let r = client()
            .post(s.url("/+web/login"))
            .header("Origin", s.base.trim_end_matches('/'))
            .header("Cookie", &pre)
            .form(&[("user", "alice"), ("password", pw), ("csrf", &csrf)])
            .send()
            .unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.text().unwrap().contains(why));
    }
}

const TEAM: &str = r#"
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
"#;

fn pending_status(s: &Server, id: i64) -> String {
    let all: Value = client()
        .get(s.url("/+pushes?status=all"))
        .basic_auth("root", Some(ROOT_PW))
        .send()
        .unwrap()
        .json()
        .unwrap();
    all["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap()["status"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn approval_forms_check_origin_token_and_four_eyes() {
    let pol = tempfile::tempdir().unwrap();
    std::fs::write(pol.path().join("team.toml"), TEAM).unwrap();
    let s = Server::start_with(&["--policies", pol.path().to_str().unwrap()]);
    create_user(&s, "alice", "alice-pw");
    create_user(&s, "bob", "bob-pw");
    let (n, b) = wheel("acme_billing", "1.4.0", "acme-billing");
    assert_eq!(
        upload(&s, "acme/dev", Some(("alice", "alice-pw")), &n, b, &[]).status(),
        200
    );
    let r = client()
        .post(s.url("/acme/dev"))
        .basic_auth("alice", Some("alice-pw"))
        .json(&json!({":action": "push", "name": "acme-billing", "version": "1.4.0", "targetindex": "acme/prod"}))
        .send()
        .unwrap();
    let v: Value = r.json().unwrap();
    let id = v["push"]["pending_id"].as_i64().expect("pending");

    // bob reads the review in the browser
    let bob = login(&s, "bob", "bob-pw");
    let page = get(&s, &format!("/+pushes/{id}"), Some(BROWSER), Some(&bob))
        .text()
        .unwrap();
    assert!(page.contains("acme/dev → acme/prod"), "{page}");
    assert!(page.contains("Approve"), "bob may approve: {page}");
    assert!(page.contains("typosquatting"));
    let csrf = hidden(&page, "csrf");
    let origin = s.base.trim_end_matches('/').to_string();
    let approve = |cookie: &str, token: &str, origin: Option<&str>| {
        let mut r = client()
            .post(s.url(&format!("/+web/pushes/{id}/approve")))
            .header("Cookie", cookie)
            .form(&[("csrf", token)]);
        if let Some(o) = origin {
            r = r.header("Origin", o);
        }
        r.send().unwrap()
    };
    // another origin, no origin, no token, someone else's token: refused
    assert_eq!(
        approve(&bob, &csrf, Some("http://evil.example")).status(),
        403
    );
    assert_eq!(approve(&bob, &csrf, None).status(), 403);
    assert_eq!(approve(&bob, "", Some(&origin)).status(), 403);
    let alice = login(&s, "alice", "alice-pw");
    let alice_page = get(&s, &format!("/+pushes/{id}"), Some(BROWSER), Some(&alice))
        .text()
        .unwrap();
    let alice_csrf = hidden(&alice_page, "csrf");
    assert_ne!(alice_csrf, csrf, "tokens are per session");
    assert_eq!(approve(&bob, &alice_csrf, Some(&origin)).status(), 403);
    assert_eq!(pending_status(&s, id), "pending", "nothing changed");
    // GET never changes anything
    assert_eq!(
        get(
            &s,
            &format!("/+web/pushes/{id}/approve"),
            Some(BROWSER),
            Some(&bob)
        )
        .status(),
        405
    );
    // the pusher sees no form and is refused if she posts anyway
    assert!(
        alice_page.contains("another approver must decide"),
        "{alice_page}"
    );
    assert!(!alice_page.contains("/approve\""));
    let r = approve(&alice, &alice_csrf, Some(&origin));
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("cannot approve"));
    assert_eq!(pending_status(&s, id), "pending");

    // bob, properly: the push lands, audited as bob's, through a session
    let r = client()
        .post(s.url(&format!("/+web/pushes/{id}/approve")))
        .header("Cookie", &bob)
        .header("Origin", &origin)
        .form(&[
            ("csrf", csrf.as_str()),
            ("comment", "read the diff, tests green"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(pending_status(&s, id), "landed");
    let audit = audit_log(&s);
    let approvals: Vec<&Value> = audit["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "approve")
        .collect();
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0]["actor"], "bob");
    assert_eq!(
        approvals[0]["details"]["comment"],
        "read the diff, tests green"
    );
    let refusals = audit["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["details"]["event"] == "approve_refused" && e["actor"] == "alice")
        .count();
    assert_eq!(refusals, 1, "the pusher's attempt is on record");

    // the audit page is root's
    assert_eq!(get(&s, "/+audit", Some(BROWSER), Some(&bob)).status(), 403);
    let root = login(&s, "root", ROOT_PW);
    let page = get(&s, "/+audit?user=bob", Some(BROWSER), Some(&root))
        .text()
        .unwrap();
    assert!(page.contains("chain verified"), "{page}");
    assert!(page.contains("<code>approve</code>"));
    assert!(
        !page.contains("<code>push_pending</code>"),
        "filtered by user bob"
    );
}

#[test]
fn status_page_shows_mirror_cache_and_upstream_failures() {
    let up = fake_upstream::FakeUpstream::start();
    let (n, b) = wheel("demo", "1.0", "demo");
    up.add(
        "demo",
        fake_upstream::Dist {
            filename: n,
            bytes: b,
            metadata: None,
        },
    );
    let url = up.simple_url();
    let s = Server::start_with(&[
        "--upstream",
        &url,
        "--upstream-timeout",
        "2",
        "--upstream-retries",
        "0",
    ]);
    assert_eq!(
        get(&s, "/root/pypi/+simple/demo/", None, None).status(),
        200
    );
    let page = get(&s, "/+status", Some(BROWSER), None).text().unwrap();
    let fact = |label: &str| -> String {
        let marker = format!("<dt>{label}</dt><dd>");
        let i = page
            .find(&marker)
            .unwrap_or_else(|| panic!("no {label}: {page}"))
            + marker.len();
        page[i..i + page[i..].find("</dd>").unwrap()].to_string()
    };
    assert_eq!(fact("failed"), "0");
    assert!(
        fact("project pages cached").starts_with("1 (1 found upstream"),
        "{page}"
    );
    assert_eq!(fact("files listed"), "1");
    up.set_mode(fake_upstream::Mode::ServerError);
    assert_eq!(
        get(&s, "/root/pypi/+simple/other/", None, None).status(),
        502
    );
    let page = get(&s, "/+status", Some(BROWSER), None).text().unwrap();
    let i = page.find("<dt>failed</dt><dd>").unwrap() + "<dt>failed</dt><dd>".len();
    assert_eq!(&page[i..i + 1], "1", "{page}");
    assert!(page.contains("503"), "the last failure says why: {page}");
}

#[test]
fn cached_pages_follow_every_change() {
    let s = Server::start();
    let (n, b) = wheel("demo_pkg", "1.0", "demo-pkg");
    assert_eq!(upload(&s, "root/dev", root(), &n, b, &[]).status(), 200);
    let page = |p: &str| get(&s, p, Some(BROWSER), None).text().unwrap();
    for _ in 0..2 {
        assert!(!page("/root/dev/demo-pkg/1.0").contains("A newer version is available"));
        assert!(!page("/root/dev/demo-pkg").contains(">1.1<"));
        assert!(page("/root/dev").contains(">1.0<"));
    }
    let (n, b) = wheel("demo_pkg", "1.1", "demo-pkg");
    assert_eq!(upload(&s, "root/dev", root(), &n, b, &[]).status(), 200);
    assert!(page("/root/dev/demo-pkg/1.0").contains("A newer version is available"));
    assert!(page("/root/dev/demo-pkg").contains(">1.1<"));
    assert!(page("/root/dev").contains(">1.1<"));
    assert!(page("/root/dev/demo-pkg/latest").contains("demo_pkg-1.1-py3-none-any.whl"));
    // a deleted release is gone from every page at once
    let r = client()
        .delete(s.url("/root/dev/demo-pkg/1.1"))
        .basic_auth("root", Some(ROOT_PW))
        .send()
        .unwrap();
    assert!(r.status().is_success());
    assert!(!page("/root/dev/demo-pkg/1.0").contains("A newer version is available"));
    assert_eq!(
        get(&s, "/root/dev/demo-pkg/1.1", Some(BROWSER), None).status(),
        404
    );
    assert!(!page("/root/dev").contains(">1.1<"));
}
