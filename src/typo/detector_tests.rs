//! Table-driven tests of every rule, with the legitimate look-alike pairs
//! (boto/boto3, mock/moto, plugin families) as negatives.

use super::{Corpus, Detector, Rule};

/// Protected fixture, most popular first.
const POPULAR: &[&str] = &[
    "boto3",
    "requests",
    "urllib3",
    "setuptools",
    "typing-extensions",
    "numpy",
    "pandas",
    "cryptography",
    "boto",
    "mock",
    "moto",
    "pytest",
    "pytest-cov",
    "pytest-mock",
    "types-requests",
    "django",
    "django-stubs",
    "more-itertools",
    "confluent-kafka",
    "pika",
    "flask",
    "flask-login",
    "flask-cors",
    "flask-wtf",
    "bootstrap-flask",
    "json-merge",
    "diff-match",
    "jsondiff",
    "aws-encryption-sdk",
    "exceptiongroup",
    "ansible",
    "typed-ast",
    "mypy-boto3-s3",
    "elastic-apm",
    "pyyaml",
    "python-dateutil",
    "colorama",
];

fn detector() -> Detector {
    Detector::builder()
        .popular(&Corpus::from_ranked_names(POPULAR), POPULAR.len())
        .private(["acme-billing"])
        .allow(["reqeusts-allowed"])
        .build()
}

fn assert_cases(cases: &[(&str, Option<(&str, Rule)>)]) {
    let d = detector();
    for (name, want) in cases {
        let v = d.check(name);
        let got = v.target.as_deref().zip(v.rule);
        assert_eq!(got, *want, "{name}: {}", v.reason);
        assert_eq!(v.suspicious, want.is_some(), "{name}");
    }
}

#[test]
fn homoglyphs() {
    assert_cases(&[
        ("reque5ts", Some(("requests", Rule::Homoglyph))),
        ("f1ask", Some(("flask", Rule::Homoglyph))),
        ("rnock", Some(("mock", Rule::Homoglyph))),
        ("b0t03", Some(("boto3", Rule::Homoglyph))),
        ("rеquests", Some(("requests", Rule::Homoglyph))), // Cyrillic е
        ("ｒequests", Some(("requests", Rule::Homoglyph))), // fullwidth r
        ("acme-bilIing", Some(("acme-billing", Rule::Homoglyph))),
        ("numpy", None),
        ("名前", None),
    ]);
}

#[test]
fn separators() {
    assert_cases(&[
        ("moreitertools", Some(("more-itertools", Rule::Separator))),
        ("set-uptools", Some(("setuptools", Rule::Separator))),
        ("typing_extensions", None), // PEP 503 spelling of the same name
        ("json-diff", None),         // both words are used by protected names
    ]);
}

#[test]
fn omissions() {
    assert_cases(&[
        ("reqests", Some(("requests", Rule::Omission))),
        ("urlib3", Some(("urllib3", Rule::Omission))),
        ("crytography", Some(("cryptography", Rule::Omission))),
        ("equests", Some(("requests", Rule::Omission))), // first letter of a long name
        ("andas", None),  // first letter of a short name: too often another word
        ("urllib", None), // a version digit dropped: a different project
        ("panda", None),  // last letter: too often a real word
        ("moc", None),    // too short to judge
    ]);
}

#[test]
fn repetitions() {
    assert_cases(&[
        ("reqquests", Some(("requests", Rule::Repetition))),
        ("ansiblle", Some(("ansible", Rule::Repetition))),
        ("boto33", None), // digits are versions
    ]);
}

#[test]
fn transpositions() {
    assert_cases(&[
        ("reqeusts", Some(("requests", Rule::Transposition))),
        ("asnible", Some(("ansible", Rule::Transposition))),
        ("mokc", None), // four letters: too short
    ]);
}

#[test]
fn adjacent_keys() {
    assert_cases(&[
        ("requesrs", Some(("requests", Rule::AdjacentKey))),
        ("reqwuests", Some(("requests", Rule::AdjacentKey))),
        ("pandaz", Some(("pandas", Rule::AdjacentKey))),
        ("pytest-csv", None), // s is not next to o, and csv is a word of its own
        ("zequests", None),   // first letter, and z is not next to r
    ]);
}

#[test]
fn affixes() {
    assert_cases(&[
        ("python3-pika", Some(("pika", Rule::Affix))),
        // The 2019 malicious `python3-dateutil`: a version-pinned prefix in
        // front of a protected `python-` name.
        ("python3-dateutil", Some(("python-dateutil", Rule::Affix))),
        ("py3-dateutil", Some(("python-dateutil", Rule::Affix))),
        ("python2-dateutil", Some(("python-dateutil", Rule::Affix))),
        ("python3-attrs", None), // neither attrs nor python-attrs is protected
        ("python-pika", None),   // python- is too often a real project's prefix
        ("requests-lib", Some(("requests", Rule::Affix))),
        ("exceptiongroups", Some(("exceptiongroup", Rule::Affix))),
        ("aws-encryption", Some(("aws-encryption-sdk", Rule::Affix))),
        ("pytest-requests", None), // plugin family, not an affix
        ("flask-stubs", None),
        ("types-flask", None),
    ]);
}

#[test]
fn word_swaps() {
    assert_cases(&[
        ("kafka-confluent", Some(("confluent-kafka", Rule::WordSwap))),
        ("ast-typed", Some(("typed-ast", Rule::WordSwap))),
        ("mock-pytest", Some(("pytest-mock", Rule::WordSwap))),
        ("flask-bootstrap", None), // flask- is a plugin family
    ]);
}

#[test]
fn version_suffixes() {
    assert_cases(&[
        ("requests-2.31", Some(("requests", Rule::VersionSuffix))),
        ("pandas-v2-0", Some(("pandas", Rule::VersionSuffix))),
        ("requests2", None),
        ("pandas-2", None), // a single number is often a real major-version fork
    ]);
}

#[test]
fn vowel_insertions() {
    assert_cases(&[
        ("colourama", Some(("colorama", Rule::Insertion))), // the 2018 malicious package
        ("cryptogaraphy", Some(("cryptography", Rule::Insertion))),
        ("colorbama", None),     // a consonant: usually another word
        ("cryptograp2hy", None), // a digit: usually a version
        ("acolorama", None),     // at the start it reads as another word
        ("pandoas", None),       // too short
    ]);
}

#[test]
fn names_built_from_known_words_are_not_typos() {
    // `py` is used as a word by many protected names, so it is a name part.
    let mut names: Vec<String> = (0..12).map(|i| format!("tool{i}-py")).collect();
    names.extend(["typepy", "typed-ast", "fastapi", "fast-ai-kit"].map(String::from));
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let d = Detector::builder()
        .popular(&Corpus::from_ranked_names(&refs), refs.len())
        .build();
    for (name, want) in [
        ("typedpy", None), // typed + py
        // `ai` is a word of only one protected name here, so no particle.
        ("fastai", Some("fastapi")),
        ("typeppy", Some("typepy")),
        ("tyepy", Some("typepy")),
    ] {
        let v = d.check(name);
        assert_eq!(v.target.as_deref(), want, "{name}: {}", v.reason);
    }
}

#[test]
fn multi_edit_and_popular_substitution() {
    assert_cases(&[
        ("ansibell", Some(("ansible", Rule::EditDistance))),
        ("pandar", Some(("pandas", Rule::EditDistance))),
        ("pytest-cover", None),
    ]);
}

#[test]
fn legitimate_neighbours_are_not_flagged() {
    // Both sides of each pair are protected, hence established.
    let d = detector();
    for name in [
        "boto",
        "boto3",
        "mock",
        "moto",
        "pytest-cov",
        "pytest-mock",
        "types-requests",
        "django-stubs",
    ] {
        assert!(d.is_established(name), "{name}");
        assert!(!d.check(name).suspicious, "{name}");
    }
    // With only one side protected the other is still not a typo of it.
    let only = |protected: &[&str], candidate: &str| {
        let d = Detector::builder()
            .popular(&Corpus::from_ranked_names(protected), protected.len())
            .build();
        d.check(candidate).suspicious
    };
    assert!(!only(&["boto3"], "boto"));
    assert!(!only(&["boto"], "boto3"));
    assert!(!only(&["mock"], "moto"));
    assert!(!only(&["moto"], "mock"));
    assert!(!only(&["pytest", "pytest-cov"], "pytest-xdist"));
    assert!(!only(&["requests", "types-requests"], "types-urllib3"));
    assert!(!only(&["django", "django-stubs"], "flask-stubs"));
    assert!(!only(
        &["pytest", "pytest-asyncio", "pytest-cov", "pytest-mock"],
        "pytest-timeout"
    ));
}

#[test]
fn established_allowed_and_private_names() {
    let mut d = detector();
    assert!(d.is_established("Typing_Extensions"));
    assert!(d.is_established("reqeusts-allowed"));
    assert!(!d.check("reqeusts-allowed").suspicious);
    assert!(!d.is_established("acme-invoices"));
    assert!(!d.check("acme-invoces").suspicious);
    d.add_private("acme-invoices");
    assert!(d.is_established("acme-invoices"));
    let v = d.check("acme-invoces");
    assert_eq!(v.target.as_deref(), Some("acme-invoices"));
    assert!(v.reason.contains("hosted here"), "{}", v.reason);
    d.add_allowed("acme-invoces");
    assert!(!d.check("acme-invoces").suspicious);
}

#[test]
fn odd_input_never_panics() {
    let d = detector();
    let long = "a".repeat(500);
    for name in [
        "",
        "-",
        "---",
        "a",
        "é",
        "\u{300}",
        long.as_str(),
        "../../etc/passwd",
        "x y z",
    ] {
        let v = d.check(name);
        assert_eq!(v.name, name);
    }
    assert!(!d.check(&long).suspicious);
}

#[test]
fn verdict_reports_distance_and_reason() {
    let v = detector().check("reqeusts");
    assert_eq!(v.distance, Some(1));
    assert!(
        v.reason.contains("requests") && v.reason.contains("swapped"),
        "{}",
        v.reason
    );
}
