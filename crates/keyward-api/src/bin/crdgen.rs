//! Writes Keyward's CustomResourceDefinitions.
//!
//! `crdgen [DIR]` writes one `<plural>.keyward.dev.yaml` per kind into DIR
//! (default `crds`); `crdgen -` prints them to stdout as one multi-document
//! stream, for `crdgen - | kubectl apply -f -`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crdgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let target = args.next().unwrap_or_else(|| "crds".to_owned());
    if let Some(extra) = args.next() {
        return Err(format!("unexpected argument {extra:?}; usage: crdgen [DIR|-]").into());
    }
    let manifests = keyward_api::crd_manifests()?;
    if target == "-" {
        let mut out = std::io::stdout().lock();
        for m in &manifests {
            writeln!(out, "---")?;
            out.write_all(m.yaml.as_bytes())?;
        }
        return Ok(());
    }
    let dir = PathBuf::from(target);
    std::fs::create_dir_all(&dir)?;
    for m in &manifests {
        let path = dir.join(&m.file_name);
        std::fs::write(&path, &m.yaml).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
