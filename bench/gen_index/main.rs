//! Write a large index straight into an airlock data folder, for the scale
//! benchmark (`bench/scale_bench.py`).
//!
//! ```text
//! cargo run --release --example gen_index -- --data DIR --projects 100000
//!     [--versions 5] [--index bench/big] [--password bench]
//! ```
//!
//! Creates user `bench` (password `bench` unless given) owning a volatile
//! stage index without bases, and in it N projects `scale-NNNNNN`, each with
//! V versions of one wheel and one sdist: N x V x 2 file rows, inserted with
//! the same store functions an upload uses (project, release with metadata,
//! file row with sha256, size, Requires-Python and PEP 658 metadata digest).
//! It does not write an audit entry per file (the server does, one per
//! upload; a generated history has none).
//!
//! Files may be small, and many rows share a blob: 64 distinct small wheels
//! are stored and each row points at one of them, so downloads work (the
//! bytes served are a valid wheel, not the one its filename names) while a
//! million rows need 64 files on disk, not a million.
//!
//! The data folder must be new or hold nothing but an earlier run's output.
//! The output is reproducible: names, versions and blobs are fixed.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use airlock::digest::Sha256;
use airlock::index::{IndexConfig, IndexKind};
use airlock::names::IndexPath;
use airlock::store::{indexes, releases, users, Store};
use anyhow::{bail, Context};

/// Distinct wheels stored; file rows share them.
const BLOBS: usize = 64;
/// Projects per write transaction.
const BATCH: usize = 2_000;

struct Args {
    data: PathBuf,
    projects: usize,
    versions: usize,
    index: IndexPath,
    password: String,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut data = None;
    let mut projects = 1_000;
    let mut versions = 5;
    let mut index = "bench/big".to_string();
    let mut password = "bench".to_string();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--data" => data = Some(PathBuf::from(value()?)),
            "--projects" => projects = value()?.parse()?,
            "--versions" => versions = value()?.parse()?,
            "--index" => index = value()?,
            "--password" => password = value()?,
            "-h" | "--help" => {
                println!("usage: gen_index --data DIR [--projects N] [--versions V] [--index USER/NAME] [--password PW]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    let index = IndexPath::parse(&index).map_err(|e| anyhow::anyhow!("--index: {e}"))?;
    Ok(Args {
        data: data.context("--data DIR is required")?,
        projects,
        versions,
        index,
        password,
    })
}

/// A small valid wheel for blob number `n`, and its METADATA.
fn wheel(n: usize) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let name = format!("scale_blob_{n:02}");
    let metadata = format!(
        "Metadata-Version: 2.1\nName: scale-blob-{n:02}\nVersion: 1.0\nSummary: scale benchmark filler\nRequires-Python: >=3.8\n\n"
    );
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default());
        z.start_file(format!("{name}/__init__.py"), opts)?;
        // Some incompressible-looking filler so files are ~2 KiB.
        for i in 0..60 {
            writeln!(z, "V{i} = {}", (i * 2_654_435_761usize + n) % 1_000_003)?;
        }
        z.start_file(format!("{name}-1.0.dist-info/METADATA"), opts)?;
        z.write_all(metadata.as_bytes())?;
        z.start_file(format!("{name}-1.0.dist-info/WHEEL"), opts)?;
        z.write_all(
            b"Wheel-Version: 1.0\nGenerator: gen_index\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )?;
        z.start_file(format!("{name}-1.0.dist-info/RECORD"), opts)?;
        z.finish()?;
    }
    Ok((buf.into_inner(), metadata.into_bytes()))
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let started = Instant::now();
    let store = Store::open(&args.data).context("opening the data folder")?;

    let mut blobs: Vec<(Sha256, u64, Sha256)> = Vec::with_capacity(BLOBS);
    for n in 0..BLOBS {
        let (bytes, metadata) = wheel(n)?;
        let (sha, _) = store.blobs.put_bytes(&bytes)?;
        let (meta_sha, _) = store.blobs.put_bytes(&metadata)?;
        blobs.push((sha, bytes.len() as u64, meta_sha));
    }

    let owner = args.index.user.as_str().to_string();
    let pwhash = airlock::auth::password::hash(&args.password);
    let index_id = store.db.write_blocking(|tx| {
        users::create(tx, &owner, Some(&pwhash), None)?;
        let user_id: i64 = tx.query_row("SELECT id FROM users WHERE name = ?1", [&owner], |r| {
            r.get(0)
        })?;
        if let Some(existing) = indexes::get(tx, &args.index)? {
            return Ok(existing.id);
        }
        let config = IndexConfig::new(IndexKind::Stage, &owner);
        Ok(indexes::create(tx, user_id, &args.index, &config)?.unwrap_or_default())
    })?;

    let provenance = serde_json::json!([{"op": "generated", "by": "gen_index"}]).to_string();
    let mut files = 0usize;
    for first in (0..args.projects).step_by(BATCH) {
        let last = (first + BATCH).min(args.projects);
        store.db.write_blocking(|tx| {
            for p in first..last {
                let project = format!("scale-{p:06}");
                let dist = format!("scale_{p:06}");
                for v in 0..args.versions {
                    let version = format!("1.{v}.0");
                    let release_metadata = serde_json::json!({
                        "name": project, "version": version, "metadata_version": "2.1",
                        "summary": "scale benchmark filler", "requires_python": ">=3.8",
                    })
                    .to_string();
                    for (kind, filename) in [
                        ("wheel", format!("{dist}-{version}-py3-none-any.whl")),
                        ("sdist", format!("{dist}-{version}.tar.gz")),
                    ] {
                        let (sha, size, meta_sha) = &blobs[(p * 7 + v * 3 + files) % BLOBS];
                        releases::insert_file(
                            tx,
                            &releases::NewFile {
                                index_id,
                                project: &project,
                                display_name: &project,
                                version: &version,
                                release_metadata: &release_metadata,
                                description_key: None,
                                filename: &filename,
                                kind,
                                sha256: sha,
                                size: *size,
                                requires_python: Some(">=3.8"),
                                metadata_sha256: (kind == "wheel").then_some(meta_sha),
                                uploader: &owner,
                                provenance: &provenance,
                            },
                        )?;
                        files += 1;
                    }
                }
            }
            Ok(())
        })?;
        eprint!(
            "\r{last}/{} projects, {files} files, {:.0} s",
            args.projects,
            started.elapsed().as_secs_f64()
        );
    }
    store.db.close()?;
    eprintln!();
    println!(
        "{}: index {} with {} projects, {files} files in {:.1} s",
        args.data.display(),
        args.index,
        args.projects,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
