//! Write a large index straight into an airlock data folder, for the scale
//! benchmark (`bench/scale_bench.py`).
//!
//! ```text
//! cargo run --release --example gen_index -- --data DIR --projects 100000
//!     [--versions 5] [--index bench/big] [--password bench] [--distinct-blobs BYTES]
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
//! With `--distinct-blobs BYTES` every file row gets its own blob instead,
//! as uploads would leave them (for `bench/fsck_bench.py` and
//! `bench/backup_bench.py`): a real wheel (zip) or sdist (tar.gz) of the
//! name and version its filename says, of BYTES on average (between 2/3 and
//! 4/3 of it; a module of pseudo-random text makes up the bulk), whose
//! METADATA / PKG-INFO is stored as the core metadata blob of the row, as an
//! upload stores it. A release's wheel and sdist carry the same metadata
//! text, so they share that blob: N x V x 2 archives + N x V metadata blobs,
//! and `airlock fsck` finds the folder sound with its metadata check on.
//! Blobs are written straight into `blobs/` by one thread per core, without
//! the per-file fsync of an upload (the caller syncs once at the end).
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
/// Shared by a release's METADATA and PKG-INFO (and its release row).
const SUMMARY: &str = "scale benchmark filler";

struct Args {
    data: PathBuf,
    projects: usize,
    versions: usize,
    index: IndexPath,
    password: String,
    /// Average archive size of one distinct blob per file row.
    distinct: Option<usize>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut data = None;
    let mut projects = 1_000;
    let mut versions = 5;
    let mut index = "bench/big".to_string();
    let mut password = "bench".to_string();
    let mut distinct = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--data" => data = Some(PathBuf::from(value()?)),
            "--projects" => projects = value()?.parse()?,
            "--versions" => versions = value()?.parse()?,
            "--index" => index = value()?,
            "--password" => password = value()?,
            "--distinct-blobs" => distinct = Some(value()?.parse::<usize>()?.max(512)),
            "-h" | "--help" => {
                println!("usage: gen_index --data DIR [--projects N] [--versions V] [--index USER/NAME] [--password PW] [--distinct-blobs BYTES]");
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
        distinct,
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

/// One file row's blobs: (archive digest, archive size, core metadata digest).
type FileBlobs = (Sha256, u64, Sha256);

/// A release's METADATA / PKG-INFO text.
fn metadata_text(project: &str, version: &str) -> String {
    format!(
        "Metadata-Version: 2.1\nName: {project}\nVersion: {version}\nSummary: {SUMMARY}\nRequires-Python: >=3.8\n\n"
    )
}

/// A module of pseudo-random (barely compressible) text that makes an
/// archive of about `target` bytes; reproducible from `seed`.
fn filler(seed: u64, target: usize) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    // splitmix64
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    // Deflate keeps ~0.7 of this text; the archive's own overhead is ~600 B.
    let raw = target.saturating_sub(600) * 10 / 7;
    let mut out = Vec::with_capacity(raw + 64);
    let mut line = 0usize;
    while out.len() < raw {
        out.extend_from_slice(format!("D{line} = \"").as_bytes());
        for _ in 0..6 {
            let mut r = next();
            for _ in 0..10 {
                out.push(ALPHABET[(r & 63) as usize]);
                r >>= 6;
            }
        }
        out.extend_from_slice(b"\"\n");
        line += 1;
    }
    out
}

/// A real wheel of `dist`-`version` whose METADATA is `metadata`.
fn distinct_wheel(
    dist: &str,
    version: &str,
    metadata: &str,
    module: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut buf);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    z.start_file(format!("{dist}/__init__.py"), opts)?;
    z.write_all(module)?;
    let info = format!("{dist}-{version}.dist-info");
    z.start_file(format!("{info}/METADATA"), opts)?;
    z.write_all(metadata.as_bytes())?;
    z.start_file(format!("{info}/WHEEL"), opts)?;
    z.write_all(
        b"Wheel-Version: 1.0\nGenerator: gen_index\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    )?;
    z.start_file(format!("{info}/RECORD"), opts)?;
    z.finish()?;
    Ok(buf.into_inner())
}

/// A real sdist (tar.gz) of `dist`-`version` whose PKG-INFO is `metadata`.
fn distinct_sdist(
    dist: &str,
    version: &str,
    metadata: &str,
    module: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let top = format!("{dist}-{version}");
    let pyproject = format!(
        "[project]\nname = \"{dist}\"\nversion = \"{version}\"\nrequires-python = \">=3.8\"\n"
    );
    for (path, data) in [
        (format!("{top}/PKG-INFO"), metadata.as_bytes()),
        (format!("{top}/pyproject.toml"), pyproject.as_bytes()),
        (format!("{top}/{dist}/__init__.py"), module),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_path(&path)?;
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        tar.append(&h, data)?;
    }
    Ok(tar.into_inner()?.finish()?)
}

/// Store `bytes` as a blob, written in place without an fsync (the data
/// folder is new; the caller syncs once).
fn write_blob(store: &Store, bytes: &[u8]) -> anyhow::Result<Sha256> {
    let sha = Sha256::of(bytes);
    let path = store
        .blobs
        .local_path(&sha)
        .context("gen_index writes a local data folder")?;
    if !path.is_file() {
        let parent = path.parent().context("blob path has a parent")?;
        std::fs::create_dir_all(parent)?;
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(sha)
}

/// The distinct blobs of projects `first..last`, generated and stored by
/// one thread per core, in row order (per project, per version: the wheel,
/// then the sdist).
fn distinct_blobs(
    store: &Store,
    first: usize,
    last: usize,
    versions: usize,
    average: usize,
) -> anyhow::Result<Vec<FileBlobs>> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let projects: Vec<usize> = (first..last).collect();
    let chunk = projects.len().div_ceil(workers).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = projects
            .chunks(chunk)
            .map(|ps| {
                scope.spawn(move || -> anyhow::Result<Vec<FileBlobs>> {
                    let mut out = Vec::with_capacity(ps.len() * versions * 2);
                    for &p in ps {
                        let (project, dist) = (format!("scale-{p:06}"), format!("scale_{p:06}"));
                        for v in 0..versions {
                            let version = format!("1.{v}.0");
                            let metadata = metadata_text(&project, &version);
                            let meta_sha = write_blob(store, metadata.as_bytes())?;
                            for k in 0..2u64 {
                                let seed = ((p as u64) << 20) | ((v as u64) << 1) | k;
                                // 2/3 to 4/3 of the average, spread by the seed
                                let spread = (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40)
                                    as usize
                                    % (average * 2 / 3 + 1);
                                let module = filler(seed, average * 2 / 3 + spread);
                                let bytes = if k == 0 {
                                    distinct_wheel(&dist, &version, &metadata, &module)?
                                } else {
                                    distinct_sdist(&dist, &version, &metadata, &module)?
                                };
                                let sha = write_blob(store, &bytes)?;
                                out.push((sha, bytes.len() as u64, meta_sha));
                            }
                        }
                    }
                    Ok(out)
                })
            })
            .collect();
        let mut all = Vec::with_capacity(projects.len() * versions * 2);
        for h in handles {
            all.extend(h.join().expect("a generating thread panicked")?);
        }
        Ok(all)
    })
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let started = Instant::now();
    let store = Store::open(&args.data).context("opening the data folder")?;

    // Shared blobs, unless every row gets its own (nothing may be stored
    // that no row references: fsck would call it an orphan).
    let shared = if args.distinct.is_some() { 0 } else { BLOBS };
    let mut blobs: Vec<FileBlobs> = Vec::with_capacity(shared);
    for n in 0..shared {
        let (bytes, metadata) = wheel(n)?;
        let (sha, _) = store.blobs.put_bytes(&bytes)?;
        let (meta_sha, _) = store.blobs.put_bytes(&metadata)?;
        blobs.push((sha, bytes.len() as u64, meta_sha));
    }

    let owner = args.index.user.as_str().to_string();
    let pwhash = airlock::auth::password::hash(&args.password);
    let index_id = store.db.write_blocking(|tx| {
        users::create(tx, &owner, Some(&pwhash), None)?;
        let user_id: i64 =
            tx.query_one("SELECT id FROM users WHERE name = ?1", &[&owner], |r| {
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
        let batch_blobs = match args.distinct {
            Some(average) => distinct_blobs(&store, first, last, args.versions, average)?,
            None => Vec::new(),
        };
        let mut row = 0usize;
        store.db.write_blocking(|tx| {
            for p in first..last {
                let project = format!("scale-{p:06}");
                let dist = format!("scale_{p:06}");
                for v in 0..args.versions {
                    let version = format!("1.{v}.0");
                    let release_metadata = serde_json::json!({
                        "name": project, "version": version, "metadata_version": "2.1",
                        "summary": SUMMARY, "requires_python": ">=3.8",
                    })
                    .to_string();
                    for (kind, filename) in [
                        ("wheel", format!("{dist}-{version}-py3-none-any.whl")),
                        ("sdist", format!("{dist}-{version}.tar.gz")),
                    ] {
                        let (sha, size, meta_sha) = match args.distinct {
                            Some(_) => &batch_blobs[row],
                            None => &blobs[(p * 7 + v * 3 + files) % BLOBS],
                        };
                        // an upload stores the core metadata of sdists too
                        let with_metadata = kind == "wheel" || args.distinct.is_some();
                        row += 1;
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
                                metadata_sha256: with_metadata.then_some(meta_sha),
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
