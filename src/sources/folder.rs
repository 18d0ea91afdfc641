//! The folder behind `keyward serve`: which YAML files exist, what each last
//! parsed to, and the last good version of every object.
//!
//! What an API server would refuse at `kubectl apply` time (invalid YAML, a
//! wrong type, an unknown field) leaves the previous version of the object in
//! force, as it would in a cluster; the error is reported. What it would accept
//! but compile rejects (a dangling reference, say) makes the object not Ready,
//! as in a cluster.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::manifest::{self, Doc, DocError, Identity};

/// Larger files are refused: a manifest folder has no business holding them.
const MAX_FILE: u64 = 4 * 1024 * 1024;
const MAX_DEPTH: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

#[derive(Debug, Default, Clone)]
pub struct FileReport {
    /// The whole file could not be read or parsed.
    pub file_error: Option<String>,
    pub errors: Vec<DocError>,
    pub ignored: Vec<String>,
    /// Objects served from their last good version because of an error.
    pub kept_last_good: Vec<Identity>,
}

impl FileReport {
    pub fn is_clean(&self) -> bool {
        self.file_error.is_none() && self.errors.is_empty()
    }
}

#[derive(Debug)]
struct FileState {
    stamp: Stamp,
    docs: Vec<Doc>,
    report: FileReport,
}

#[derive(Debug)]
pub struct Folder {
    dir: PathBuf,
    /// Folders the hub itself writes (registered clients), read like `dir`;
    /// absent until the first write.
    extra: Vec<PathBuf>,
    namespace: String,
    files: BTreeMap<PathBuf, FileState>,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct FolderError {
    path: PathBuf,
    source: std::io::Error,
}

impl Folder {
    pub fn new(dir: impl Into<PathBuf>, default_namespace: impl Into<String>) -> Folder {
        Folder { dir: dir.into(), extra: Vec::new(), namespace: default_namespace.into(), files: BTreeMap::new() }
    }

    /// Also reads `dir`, which may not exist yet.
    pub fn with_extra(mut self, dir: impl Into<PathBuf>) -> Folder {
        self.extra.push(dir.into());
        self
    }

    /// `path` relative to the folder it was found in, for messages.
    pub fn relative(&self, path: &Path) -> String {
        std::iter::once(&self.dir)
            .chain(&self.extra)
            .find_map(|root| path.strip_prefix(root.parent().filter(|_| root != &self.dir).unwrap_or(root)).ok())
            .unwrap_or(path)
            .display()
            .to_string()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Re-reads what changed. Returns whether anything did.
    pub fn scan(&mut self) -> Result<bool, FolderError> {
        let mut found = Vec::new();
        walk(&self.dir, 0, &mut found).map_err(|source| FolderError { path: self.dir.clone(), source })?;
        for extra in &self.extra {
            match walk(extra, 0, &mut found) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(FolderError { path: extra.clone(), source }),
            }
        }
        let before = self.files.len();
        self.files.retain(|p, _| found.iter().any(|(f, _)| f == p));
        let mut changed = self.files.len() != before;
        for (path, stamp) in found {
            if self.files.get(&path).is_some_and(|f| f.stamp == stamp) {
                continue;
            }
            changed = true;
            let previous = self.files.remove(&path).map(|f| f.docs).unwrap_or_default();
            let (docs, report) = self.read(&path, stamp, previous);
            self.files.insert(path, FileState { stamp, docs, report });
        }
        Ok(changed)
    }

    fn read(&self, path: &Path, stamp: Stamp, previous: Vec<Doc>) -> (Vec<Doc>, FileReport) {
        let mut report = FileReport::default();
        let text = if stamp.len > MAX_FILE {
            Err(format!("larger than {MAX_FILE} bytes"))
        } else {
            std::fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|b| String::from_utf8(b).map_err(|_| "not UTF-8".to_owned()))
        };
        let parsed = text.and_then(|t| manifest::parse(&t, &self.namespace).map_err(|e| e.to_string()));
        match parsed {
            Err(e) => {
                report.file_error = Some(e);
                report.kept_last_good = previous.iter().map(|d| d.identity.clone()).collect();
                (previous, report)
            }
            Ok(parsed) => {
                let mut docs = parsed.docs;
                for err in &parsed.errors {
                    let Some(id) = &err.identity else { continue };
                    if docs.iter().any(|d| &d.identity == id) {
                        continue;
                    }
                    if let Some(old) = previous.iter().find(|d| &d.identity == id) {
                        docs.push(old.clone());
                        report.kept_last_good.push(id.clone());
                    }
                }
                report.errors = parsed.errors;
                report.ignored = parsed.ignored;
                (docs, report)
            }
        }
    }

    /// Every document in force, in path order.
    pub fn docs(&self) -> impl Iterator<Item = (&Path, &Doc)> {
        self.files.iter().flat_map(|(p, f)| f.docs.iter().map(move |d| (p.as_path(), d)))
    }

    pub fn reports(&self) -> impl Iterator<Item = (&Path, &FileReport)> {
        self.files.iter().map(|(p, f)| (p.as_path(), &f.report))
    }
}

fn is_hidden(p: &Path) -> bool {
    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'))
}

/// YAML files under `dir`, sorted, skipping hidden entries (editors' swap files,
/// and the `..data` links of a mounted ConfigMap, whose files are also visible
/// under their plain names).
fn walk(dir: &Path, depth: usize, out: &mut Vec<(PathBuf, Stamp)>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let path = e.path();
        if is_hidden(&path) {
            continue;
        }
        // Follow links: a mounted ConfigMap is made of them.
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if meta.is_dir() {
            if depth < MAX_DEPTH {
                walk(&path, depth + 1, out)?;
            }
        } else if meta.is_file() && matches!(path.extension().and_then(|x| x.to_str()), Some("yaml" | "yml")) {
            out.push((path, Stamp { len: meta.len(), modified: meta.modified().ok() }));
        }
    }
    Ok(())
}
