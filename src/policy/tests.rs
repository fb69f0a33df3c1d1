use super::*;
use crate::index::config::{IndexKind, Principal};

fn p(s: &str) -> IndexPath {
    IndexPath::parse(s).unwrap()
}

fn default_toml() -> &'static str {
    include_str!("../../policies/default.toml")
}

#[test]
fn shipped_default_policy_loads() {
    let pol = Policies::parse_str("default.toml", default_toml()).unwrap();
    let pypi = pol.index_policy(&p("root/pypi")).unwrap();
    assert_eq!(pypi.kind, IndexKind::Mirror);
    assert!(!pypi.uploads && !pypi.production);

    let dev = pol.index_policy(&p("root/dev")).unwrap();
    assert_eq!(dev.bases, vec![p("root/pypi")]);
    assert!(dev.volatile && dev.uploads && !dev.production);

    let prod = pol.index_policy(&p("root/prod")).unwrap();
    assert!(prod.production && !prod.volatile && !prod.uploads);
    assert!(prod.bases.is_empty());
    assert_eq!(prod.accepts_push_from, vec![p("root/dev")]);
    assert_eq!(prod.require.approvals, 0);
    assert!(prod.require.no_typosquat && prod.require.no_shadowing);
    assert!(
        pol.index_policy(&p("acme/prod")).is_none(),
        "the acme example is commented out"
    );
    assert_eq!(pol.typosquat().protect_top, 5000);
    assert_eq!(pol.typosquat_mode(&p("root/prod")), TyposquatMode::Block);
}

#[test]
fn the_commented_example_is_valid_too() {
    let start = default_toml().find("# [index.\"acme/dev\"]").unwrap();
    let uncommented: String = default_toml()[start..]
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let pol = Policies::parse_str("example", &uncommented).unwrap();
    let prod = pol.index_policy(&p("acme/prod")).unwrap();
    assert_eq!(prod.require.approvals, 1);
    assert_eq!(prod.require.min_age_days, 7);
    assert_eq!(prod.auth.push, vec![Credential::ClientCert]);
    assert!(!prod.uploads, "production defaults to no uploads");
    assert!(!prod.volatile, "production defaults to non-volatile");
    assert_eq!(prod.upload_users, vec!["acme"], "owner by default");
}

#[test]
fn defaults_when_keys_are_absent() {
    let pol = Policies::parse_str(
        "t.toml",
        "[index.\"a/dev\"]\n[index.\"a/prod\"]\nproduction = true\n[index.\"root/m\"]\ntype = \"mirror\"\n",
    )
    .unwrap();
    let dev = pol.index_policy(&p("a/dev")).unwrap();
    assert_eq!(dev.kind, IndexKind::Stage);
    assert!(dev.volatile && dev.uploads && !dev.production);
    assert_eq!(dev.upload_users, vec!["a"]);
    assert_eq!(dev.push_users, vec!["a"]);
    assert_eq!(dev.approve_users, vec!["a"]);
    assert_eq!(dev.require, RequirePolicy::default());
    assert_eq!(dev.auth, AuthRequirements::default());
    assert_eq!(dev.typosquat, None);
    let prod = pol.index_policy(&p("a/prod")).unwrap();
    assert!(!prod.volatile && !prod.uploads);
    let mirror = pol.index_policy(&p("root/m")).unwrap();
    assert!(!mirror.volatile && !mirror.uploads);
    assert_eq!(pol.typosquat(), &TyposquatSettings::default());
    assert_eq!(dev.defined_at.to_string(), "t.toml:1:8");
}

/// Each case: document, expected `line:col`, and a fragment of the message.
#[test]
fn invalid_documents_are_located() {
    let cases: &[(&str, &str, &str)] = &[
        ("[index.\"a/b\"]\nfrobnicate = 1\n", "2:1", "unknown field `frobnicate`"),
        ("[typosquat]\nprotect = 1\n", "2:1", "unknown field `protect`"),
        ("[nonsense]\n", "1:2", "unknown field `nonsense`"),
        ("[index.\"a/b\"]\ntype = \"proxy\"\n", "2:8", "unknown variant `proxy`"),
        ("[index.\"a/b\"]\nvolatile = \"yes\"\n", "2:12", "expected a boolean"),
        ("[index.\"a/b\"]\nbases = [\"../etc\"]\n", "2:9", "invalid"),
        ("[index.\"a/b\"]\nauth = { upload = [\"sms\"] }\n", "2:20", "unknown variant `sms`"),
        ("[index.\"a/b\"]\nauth = { login = [] }\n", "2:10", "unknown field `login`"),
        ("[index.\"a/b\"]\n[index.\"a/b\".require]\nquorum = 2\n", "3:1", "unknown field `quorum`"),
        ("[index.\"a/b\"]\n[index.\"a/b\"]\n", "2:1", "duplicate"),
        ("[typosquat]\nmode = \"loud\"\n", "2:8", "unknown variant `loud`"),
        ("[typosquat]\nallow = [\"bad name!\"]\n", "2:9", "invalid project name"),
        ("[index.\"a/b\"]\ntype = \"stage\"\ntype = \"stage\"\n", "3:1", "duplicate key"),
        ("x = \n", "1:5", ""),
        ("[index.\"nopath\"]\n", "1:8", "must be USER/INDEX"),
        ("[index.\"/a/b/\"]\n", "1:8", "without leading or trailing"),
        ("\n[index.\"r/m\"]\ntype = \"mirror\"\nproduction = true\n", "2:1", "cannot be a production index"),
        ("[index.\"r/m\"]\ntype = \"mirror\"\nbases = [\"r/x\"]\n", "3:10", "cannot have bases"),
        ("[index.\"r/m\"]\ntype = \"mirror\"\naccepts_push_from = [\"r/x\"]\n", "3:21", "nothing can be pushed"),
        ("[index.\"r/m\"]\ntype = \"mirror\"\nuploads = true\n", "3:11", "nothing can be uploaded"),
        ("[index.\"r/m\"]\ntype = \"mirror\"\n[index.\"r/m\".require]\napprovals = 1\n", "3:1", "push requirements"),
        ("[index.\"a/b\"]\nbases = [\"a/c\", \"a/b\"]\n", "2:17", "its own base"),
        ("[index.\"a/b\"]\naccepts_push_from = [\"a/b\"]\n", "2:22", "from itself"),
        ("[index.\"a/p\"]\nproduction = true\nvolatile = true\n", "3:12", "cannot be volatile"),
        ("[index.\"a/b\"]\nupload_users = [\"a\", \":ANONYMOUS:\"]\n", "2:22", "anonymous callers may never write"),
        ("[index.\"a/b\"]\npush_users = [\"not ok\"]\n", "2:15", "neither a user name"),
        ("[index.\"a/b\"]\napprove_users = [\"a\"]\n[index.\"a/b\".require]\napprovals = 2\n", "3:1", "can never be met"),
        ("[index.\"a/b\"]\n[index.\"a/b\".require]\nmin_age_days = 10\nmax_age_days = 5\n", "2:1", "no release could ever be pushed"),
        ("[index.\"a/b\"]\n[index.\"a/b\".require]\nallowed_licenses = [\" \"]\n", "2:1", "allowed_licenses entry"),
        ("[index.\"a/b\"]\n[index.\"a/b\".require]\napprovals = -1\n", "3:13", "invalid value"),
        (
            "[index.\"r/pypi\"]\ntype = \"mirror\"\n[index.\"a/prod\"]\nproduction = true\nbases = [\"r/pypi\"]\n",
            "3:8",
            "a/prod is a production index but inherits the mirror r/pypi directly",
        ),
    ];
    let mut failures = Vec::new();
    for (doc, at, fragment) in cases {
        match Policies::parse_str("t.toml", doc) {
            Ok(_) => failures.push(format!("{doc:?}: accepted")),
            Err(err) => {
                let text = err.to_string();
                if !text.starts_with(&format!("t.toml:{at}: ")) || !text.contains(fragment) {
                    failures.push(format!("{doc:?}: expected {at} {fragment:?}, got {text}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn valid_variations_are_accepted() {
    let cases: &[&str] = &[
        "",
        "# only comments\n",
        "[typosquat]\nmode = \"off\"\n",
        "[index.\"a/b\"]\nupload_users = [\":AUTHENTICATED:\"]\n",
        "[index.\"a/b\"]\napprove_users = [\":AUTHENTICATED:\"]\n[index.\"a/b\".require]\napprovals = 5\n",
        "[index.\"a/b\"]\napprove_users = [\"x\", \"y\"]\n[index.\"a/b\".require]\napprovals = 2\n",
        "[index.\"a/b\"]\n[index.\"a/b\".require]\nmin_age_days = 5\nmax_age_days = 5\n",
        "[index.\"a/b\"]\n[index.\"a/b\".require]\nmin_age_days = 5\n",
        "[index.\"a/b\"]\nbases = [\"x/y\", \"x/y\"]\n",
        "[index.\"a/p\"]\nproduction = true\nuploads = true\n",
        "[index.\"a/b\"]\nauth = { install = [\"client_cert\", \"password\"] }\n",
    ];
    for doc in cases {
        assert!(Policies::parse_str("t.toml", doc).is_ok(), "{doc:?}");
    }
    let dup =
        Policies::parse_str("t.toml", "[index.\"a/b\"]\nbases = [\"x/y\", \"x/y\"]\n").unwrap();
    assert_eq!(dup.index_policy(&p("a/b")).unwrap().bases, vec![p("x/y")]);
}

#[test]
fn group_entries() {
    let pol = Policies::parse_str(
        "t.toml",
        "[index.\"a/prod\"]\nproduction = true\naccepts_push_from = [\"a/dev\"]\n\
         push_users = [\":GROUP:release-managers\"]\napprove_users = [\":group:approvers\"]\n\
         [index.\"a/prod\".require]\napprovals = 2\n",
    );
    // one group entry can stand for two approvers
    let pol = pol.unwrap();
    let prod = pol.index_policy(&p("a/prod")).unwrap();
    assert_eq!(prod.push_users, [":group:release-managers"]);
    let rm = vec!["release-managers".to_string()];
    let member = Principal {
        user: Some("alice"),
        groups: &rm,
    };
    assert!(prod.may_push(member, &p("a/dev")));
    assert!(!prod.may_push(Principal::user("alice"), &p("a/dev")));
    assert!(!prod.may_approve(member));
    for bad in [":group:", ":group:a b", ":group:x/y"] {
        let doc = format!("[index.\"a/b\"]\nupload_users = [\"{bad}\"]\n");
        let e = Policies::parse_str("t.toml", &doc).unwrap_err().to_string();
        assert!(e.contains("group"), "{bad}: {e}");
    }
}

#[test]
fn access_helpers() {
    let pol = Policies::parse_str(
        "t.toml",
        "[index.\"a/prod\"]\nproduction = true\naccepts_push_from = [\"a/dev\"]\n\
         push_users = [\"alice\"]\napprove_users = [\":AUTHENTICATED:\"]\n\
         auth = { push = [\"password\", \"client_cert\"] }\ntyposquat = \"warn\"\n\
         [index.\"a/dev\"]\nupload_users = [\":AUTHENTICATED:\"]\n",
    )
    .unwrap();
    let prod = pol.index_policy(&p("a/prod")).unwrap();
    let dev = pol.index_policy(&p("a/dev")).unwrap();
    assert!(
        !prod.may_upload(Principal::user("a")),
        "uploads = false wins over the ACL"
    );
    assert!(dev.may_upload(Principal::user("anyone")));
    assert!(!dev.may_upload(Principal::ANONYMOUS));
    assert!(prod.may_push(Principal::user("alice"), &p("a/dev")));
    assert!(!prod.may_push(Principal::user("bob"), &p("a/dev")));
    assert!(!prod.may_push(Principal::user("alice"), &p("a/other")));
    assert!(prod.may_approve(Principal::user("bob")));
    assert!(!prod.may_approve(Principal::ANONYMOUS));
    assert_eq!(
        prod.auth.missing(Action::Push, &[Credential::Password]),
        vec![Credential::ClientCert]
    );
    assert!(prod
        .auth
        .missing(
            Action::Push,
            &[Credential::ClientCert, Credential::Password]
        )
        .is_empty());
    assert!(prod.auth.missing(Action::Upload, &[]).is_empty());
    assert_eq!(pol.typosquat_mode(&p("a/prod")), TyposquatMode::Warn);
    assert_eq!(pol.typosquat_mode(&p("a/dev")), TyposquatMode::Block);
    assert_eq!(pol.typosquat_mode(&p("x/unknown")), TyposquatMode::Block);
}

fn write(dir: &std::path::Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn load_dir_merges_files_and_ignores_others() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "10-mirror.toml",
        "[index.\"root/pypi\"]\ntype = \"mirror\"\n",
    );
    write(
        dir.path(),
        "20-team.toml",
        "[typosquat]\nprotect_top = 10\n[index.\"a/dev\"]\nbases = [\"root/pypi\"]\n",
    );
    write(dir.path(), "popular-pypi.tsv", "not toml at all [[[");
    write(dir.path(), ".hidden.toml", "garbage [[[");
    write(dir.path(), "notes.toml.bak", "garbage [[[");
    let pol = Policies::load_dir(dir.path()).unwrap();
    assert_eq!(pol.indexes().count(), 2);
    assert_eq!(pol.typosquat().protect_top, 10);
    assert!(pol.index_policy(&p("a/dev")).is_some());
}

#[test]
fn load_dir_rejects_cross_file_conflicts() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "[index.\"a/dev\"]\n",
            "\n\n[index.\"a/dev\"]\n",
            "2.toml:3:8: index a/dev is already defined at",
        ),
        ("[typosquat]\n", "\n[typosquat]\n", "2.toml:2:1: [typosquat] is already set at"),
        (
            "[index.\"root/pypi\"]\ntype = \"mirror\"\n",
            "[index.\"a/prod\"]\nproduction = true\nbases = [\"a/stage\"]\n[index.\"a/stage\"]\nbases = [\"root/pypi\"]\n",
            "2.toml:1:8: a/prod is a production index but inherits the mirror root/pypi through a/stage → root/pypi",
        ),
        ("", "[index.\"a/b\"]\nx = 1\n", "2.toml:2:1: unknown field `x`"),
    ];
    for (one, two, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "1.toml", one);
        write(dir.path(), "2.toml", two);
        let err = Policies::load_dir(dir.path()).unwrap_err().to_string();
        let shown = err.replace(&format!("{}/", dir.path().display()), "");
        assert!(shown.starts_with(expected), "got {shown}");
    }
}

#[test]
fn load_dir_edge_cases() {
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        Policies::load_dir(empty.path()).unwrap(),
        Policies::default()
    );
    let missing = empty.path().join("nope");
    assert!(matches!(
        Policies::load_dir(&missing),
        Err(PolicyError::Io { .. })
    ));
    let big = tempfile::tempdir().unwrap();
    let text = format!("# {}\n", "x".repeat(MAX_POLICY_FILE_BYTES as usize));
    write(big.path(), "big.toml", &text);
    assert!(matches!(
        Policies::load_dir(big.path()),
        Err(PolicyError::TooLarge { .. })
    ));
}

#[test]
fn shipped_policies_folder_loads() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let pol = Policies::load_dir(&dir).unwrap();
    assert!(pol.index_policy(&p("root/prod")).is_some());
}

#[test]
fn tests_passed_by_and_toxresult_users() {
    let ok = r#"
[index."root/dev"]
toxresult_users = ["ci", ":ANONYMOUS:"]
[index."root/prod"]
production = true
[index."root/prod".require]
tests_passed = true
tests_passed_by = ["ci", "cert:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"]
"#;
    let p = Policies::parse_str("t.toml", ok).unwrap();
    let dev = p
        .index_policy(&IndexPath::parse("root/dev").unwrap())
        .unwrap();
    assert_eq!(dev.toxresult_users, vec!["ci", ":ANONYMOUS:"]);
    let prod = p
        .index_policy(&IndexPath::parse("root/prod").unwrap())
        .unwrap();
    assert_eq!(
        prod.toxresult_users,
        vec!["root"],
        "defaults to upload_users"
    );
    assert_eq!(prod.require.tests_passed_by.len(), 2);
    for bad in [":ANONYMOUS:", ":AUTHENTICATED:", "cert:xyz", "not a user"] {
        let text = format!(
            "[index.\"root/prod\"]\nproduction = true\n[index.\"root/prod\".require]\ntests_passed_by = [{bad:?}]\n"
        );
        let err = Policies::parse_str("t.toml", &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("tests_passed_by entry"), "{bad}: {err}");
    }
}
