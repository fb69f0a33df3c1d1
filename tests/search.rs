//! Full-text search through the real server (`GET /+search`): what an
//! upload, a doc upload, a push, a delete and a mirrored page each make
//! findable, and what they do not.

mod common;
#[path = "common/fake_upstream.rs"]
mod fake_upstream;

use std::io::Write;

use common::*;
use fake_upstream::{Dist, FakeUpstream};
use serde_json::{json, Value};

/// A wheel whose METADATA is `meta` (for summary, keywords, description).
fn wheel_with(name: &str, version: &str, meta: &str) -> (String, Vec<u8>) {
    let filename = format!("{name}-{version}-py3-none-any.whl");
    let dist_info = format!("{name}-{version}.dist-info");
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default();
        z.start_file(format!("{name}/__init__.py"), opts).unwrap();
        z.write_all(b"VALUE = 1\n").unwrap();
        z.start_file(format!("{dist_info}/METADATA"), opts).unwrap();
        z.write_all(meta.as_bytes()).unwrap();
        z.start_file(format!("{dist_info}/WHEEL"), opts).unwrap();
        z.write_all(
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        .unwrap();
        z.start_file(format!("{dist_info}/RECORD"), opts).unwrap();
        z.finish().unwrap();
    }
    (filename, buf.into_inner())
}

fn meta(name: &str, version: &str, summary: &str, keywords: &str, body: &str) -> String {
    format!(
        "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {summary}\n\
         Keywords: {keywords}\nClassifier: Topic :: Scientific/Engineering :: Astronomy\n\n{body}\n"
    )
}

fn search(s: &Server, query: &[(&str, &str)]) -> (u16, Value) {
    let r = client()
        .get(s.url("/+search"))
        .query(query)
        .header("Accept", "application/json")
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// (index, project, version) of every hit for `q`.
fn hits(s: &Server, q: &str, index: Option<&str>) -> Vec<(String, String, Value)> {
    let mut query = vec![("q", q)];
    if let Some(i) = index {
        query.push(("index", i));
    }
    let (status, body) = search(s, &query);
    assert_eq!(status, 200, "{body}");
    body["result"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["index"].as_str().unwrap().to_string(),
                h["project"].as_str().unwrap().to_string(),
                h["version"].clone(),
            )
        })
        .collect()
}

fn upload_docs(s: &Server, index: &str, name: &str, version: &str, html: &str) {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default();
        z.start_file("index.html", opts).unwrap();
        z.write_all(html.as_bytes()).unwrap();
        z.finish().unwrap();
    }
    let form = reqwest::blocking::multipart::Form::new()
        .text(":action", "doc_upload")
        .text("name", name.to_string())
        .text("version", version.to_string())
        .part(
            "content",
            reqwest::blocking::multipart::Part::bytes(buf.into_inner())
                .file_name(format!("{name}-{version}.doc.zip")),
        );
    let r = client()
        .post(s.url(&format!("/{index}/")))
        .basic_auth("root", Some(ROOT_PW))
        .multipart(form)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
}

#[test]
fn uploads_docs_pushes_and_deletes_change_what_is_found() {
    let s = Server::start();
    let (n, b) = wheel_with(
        "stargazer",
        "1.0",
        &meta(
            "stargazer",
            "1.0",
            "Telescope pointing helpers",
            "ephemeris,observatory",
            "Computes the nutation of the celestial pole.",
        ),
    );
    assert_eq!(upload(&s, "root/dev", root(), &n, b, &[]).status(), 200);
    let (n2, b2) = wheel_with(
        "stargazer",
        "1.2",
        &meta(
            "stargazer",
            "1.2",
            "Telescope pointing helpers",
            "",
            "Nothing.",
        ),
    );
    assert_eq!(upload(&s, "root/dev", root(), &n2, b2, &[]).status(), 200);
    let dev_hit = |v: &str| ("root/dev".to_string(), "stargazer".to_string(), json!(v));

    // by name (prefix), summary, keyword, classifier and description
    assert_eq!(hits(&s, "stargaz", None), vec![dev_hit("1.2")]);
    assert_eq!(hits(&s, "telescope", None), vec![dev_hit("1.2")]);
    assert_eq!(
        hits(&s, "ephemeris", None),
        vec![dev_hit("1.0")],
        "keyword of 1.0 only"
    );
    assert_eq!(hits(&s, "astronomy", None), vec![dev_hit("1.2")]);
    assert_eq!(hits(&s, "nutation", None), vec![dev_hit("1.0")]);
    assert!(hits(&s, "heliograph", None).is_empty());

    // the JSON says which fields matched, with a plain-text snippet
    let (_, body) = search(&s, &[("q", "celestial")]);
    let hit = &body["result"]["hits"][0];
    assert_eq!(hit["matched"], json!(["description"]), "{body}");
    assert_eq!(hit["summary"], "Telescope pointing helpers");
    let snippet = hit["snippet"]["text"].as_str().unwrap();
    let (from, to) = (
        hit["snippet"]["highlights"][0][0].as_u64().unwrap() as usize,
        hit["snippet"]["highlights"][0][1].as_u64().unwrap() as usize,
    );
    assert_eq!(&snippet[from..to], "celestial", "{snippet}");

    // documentation: found by a word that is only in the docs
    assert!(hits(&s, "coronagraph", None).is_empty());
    upload_docs(
        &s,
        "root/dev",
        "stargazer",
        "1.2",
        "<html><head><style>.zodiacal{}</style></head><body><h1>Guide</h1>\
         <p>Mount the coronagraph first.</p><script>var gegenschein;</script></body></html>",
    );
    assert_eq!(hits(&s, "coronagraph", None), vec![dev_hit("1.2")]);
    assert!(hits(&s, "zodiacal", None).is_empty(), "styles are not text");
    assert!(
        hits(&s, "gegenschein", None).is_empty(),
        "scripts are not text"
    );

    // push to root/prod: found there too, description and docs carried
    let r = client()
        .post(s.url("/root/dev"))
        .basic_auth("root", Some(ROOT_PW))
        .json(&json!({":action": "push", "name": "stargazer", "version": "1.2", "targetindex": "root/prod"}))
        .send()
        .unwrap();
    let status = r.status();
    let body: Value = r.json().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["push"]["landed"], true, "{body}");
    let prod_hit = (
        "root/prod".to_string(),
        "stargazer".to_string(),
        json!("1.2"),
    );
    assert_eq!(
        hits(&s, "coronagraph", Some("root/prod")),
        vec![prod_hit.clone()]
    );
    assert_eq!(
        hits(&s, "telescope", Some("root/prod")),
        vec![prod_hit.clone()]
    );
    let both = hits(&s, "coronagraph", None);
    assert_eq!(both.len(), 2, "{both:?}");

    // delete: gone from the index it was deleted from, only
    let r = client()
        .delete(s.url("/root/dev/stargazer/1.0"))
        .basic_auth("root", Some(ROOT_PW))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    assert!(hits(&s, "nutation", None).is_empty());
    assert!(hits(&s, "ephemeris", None).is_empty());
    let r = client()
        .delete(s.url("/root/dev/stargazer"))
        .basic_auth("root", Some(ROOT_PW))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    assert_eq!(hits(&s, "coronagraph", None), vec![prod_hit]);
}

#[test]
fn exact_names_rank_first_and_bad_queries_are_400() {
    let s = Server::start();
    for (name, summary) in [
        ("orbit-tools", "Helpers for orbit and more orbit orbit"),
        ("orbit", "Propagates things"),
        ("kepler", "Solves the orbit equation"),
    ] {
        let (n, b) = wheel_with(
            &name.replace('-', "_"),
            "1.0",
            &meta(name, "1.0", summary, "", ""),
        );
        assert_eq!(upload(&s, "root/dev", root(), &n, b, &[]).status(), 200);
    }
    let found = hits(&s, "Orbit", None);
    let names: Vec<&str> = found.iter().map(|h| h.1.as_str()).collect();
    assert_eq!(names, vec!["orbit", "orbit-tools", "kepler"], "{found:?}");

    // FTS5 syntax is just words
    for q in [
        "orbit OR kepler",
        "NEAR(orbit kepler)",
        "summary:orbit",
        "\"orbit",
        "orbit*",
    ] {
        let (status, body) = search(&s, &[("q", q)]);
        assert_eq!(status, 200, "{q}: {body}");
    }
    assert!(
        hits(&s, "orbit OR kepler", None).is_empty(),
        "OR is a word here"
    );

    for bad in [
        vec![("q", "")],
        vec![],
        vec![("q", "***")],
        vec![("q", "x"), ("page", "0")],
        vec![("q", "x"), ("page", "many")],
        vec![("q", "x"), ("index", "not-an-index-path")],
    ] {
        let (status, body) = search(&s, &bad);
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    let long = "a".repeat(10 * 1024);
    let (status, body) = search(&s, &[("q", long.as_str())]);
    assert_eq!(status, 400, "{body}");
    let (status, _) = search(&s, &[("q", "x"), ("index", "nobody/nothing")]);
    assert_eq!(status, 404);
}

#[test]
fn mirrored_projects_are_found_by_name_only() {
    let up = FakeUpstream::start();
    let upstream_meta = "Metadata-Version: 2.1\nName: nebulizer\nVersion: 3.0\n\
        Summary: zebrafish imaging\n\nA description about pulsars.\n";
    up.add(
        "nebulizer",
        Dist {
            filename: "nebulizer-3.0-py3-none-any.whl".into(),
            bytes: vec![7u8; 1024],
            metadata: Some(upstream_meta.as_bytes().to_vec()),
        },
    );
    let url = up.simple_url();
    let s = Server::start_with(&["--upstream", url.as_str(), "--upstream-timeout", "2"]);
    assert!(hits(&s, "nebulizer", None).is_empty(), "not cached yet");
    let r = client()
        .get(s.url("/root/pypi/+simple/nebulizer/"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        hits(&s, "nebuli", None),
        vec![(
            "root/pypi".to_string(),
            "nebulizer".to_string(),
            Value::Null
        )]
    );
    // root/dev inherits root/pypi: the hit says where it lives
    assert_eq!(hits(&s, "nebulizer", Some("root/dev")).len(), 1);
    assert!(hits(&s, "nebulizer", Some("root/prod")).is_empty());
    assert!(
        hits(&s, "zebrafish", None).is_empty(),
        "mirror summaries are not indexed"
    );
    assert!(hits(&s, "pulsars", None).is_empty());
}

/// The ranking a user expects: the project named exactly, then other
/// names holding the word, then a summary mention, then a description
/// mention (however often the description repeats it); prefixes of 2, 3
/// and more characters; words spread over a name and a description.
#[test]
fn exact_name_beats_name_beats_summary_beats_description() {
    let s = Server::start();
    for (name, summary, body) in [
        (
            "weatherly",
            "Weather data",
            "Works with nimbus, nimbus and more nimbus clouds.",
        ),
        ("skyward", "Nimbus cloud forecasting", "Plain."),
        ("nimbus-cli", "Command line", "Plain."),
        ("nimbus", "A cloud helper", "Plain."),
        ("unrelated", "Nothing to see", "Plain."),
    ] {
        let (n, b) = wheel_with(
            &name.replace('-', "_"),
            "1.0",
            &meta(name, "1.0", summary, "", body),
        );
        assert_eq!(upload(&s, "root/dev", root(), &n, b, &[]).status(), 200);
    }
    let order = |q: &str| -> Vec<String> { hits(&s, q, None).into_iter().map(|h| h.1).collect() };
    let expected = ["nimbus", "nimbus-cli", "skyward", "weatherly"];
    assert_eq!(order("nimbus"), expected);
    assert_eq!(order("Nimbus"), expected);
    // prefixes: 4 characters (no exact name), 3 and 2 (prefix indexes)
    assert_eq!(order("nimb"), expected);
    assert_eq!(order("nim"), expected);
    assert_eq!(order("ni"), expected);
    // every word must match, in whichever fields
    assert_eq!(order("skyward forecasting"), ["skyward"]);
    assert_eq!(order("weatherly clouds"), ["weatherly"]);
    assert!(order("skyward clouds").is_empty());

    let (_, body) = search(&s, &[("q", "nimbus")]);
    let result = &body["result"];
    assert_eq!(result["capped"], json!(false), "{body}");
    assert_eq!(result["more"], json!(false), "{body}");
    let matched: Vec<&Value> = result["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| &h["matched"])
        .collect();
    assert_eq!(
        matched,
        [
            &json!(["name"]),
            &json!(["name"]),
            &json!(["summary"]),
            &json!(["description"])
        ],
        "{body}"
    );
    assert_eq!(result["hits"][0]["exact_name"], json!(true));
    assert_eq!(result["hits"][1]["exact_name"], json!(false));
    // the description hit shows its words marked
    let hit = &result["hits"][3];
    let text = hit["snippet"]["text"].as_str().unwrap();
    let marks: Vec<&str> = hit["snippet"]["highlights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &text[r[0].as_u64().unwrap() as usize..r[1].as_u64().unwrap() as usize])
        .collect();
    assert_eq!(marks, ["nimbus", "nimbus", "nimbus"], "{hit}");

    // the HTML page lists them in the same order, with no "capped" note
    let page = client()
        .get(s.url("/+search?q=nimbus"))
        .header("Accept", "text/html")
        .send()
        .unwrap()
        .text()
        .unwrap();
    let at = |p: &str| {
        page.find(&format!("/root/dev/{p}/1.0"))
            .unwrap_or_else(|| panic!("{p} missing: {page}"))
    };
    assert!(at("nimbus") < at("nimbus-cli"));
    assert!(at("nimbus-cli") < at("skyward"));
    assert!(at("skyward") < at("weatherly"));
    assert!(!page.contains("match more releases than are ranked"));
}
