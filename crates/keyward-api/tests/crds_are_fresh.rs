//! The committed `crds/*.yaml` are exactly what `keyward_api::crds()` renders,
//! so a change to the Rust types cannot ship with a stale CRD.

use std::path::Path;

#[test]
fn committed_crds_match_the_generated_ones() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds");
    let mut stale = Vec::new();
    for m in keyward_api::crd_manifests().unwrap() {
        let path = dir.join(&m.file_name);
        match std::fs::read_to_string(&path) {
            Ok(committed) if committed == m.yaml => {}
            Ok(_) => stale.push(format!("crds/{} differs from the generated CRD", m.file_name)),
            Err(e) => stale.push(format!("crds/{} cannot be read: {e}", m.file_name)),
        }
    }
    assert!(
        stale.is_empty(),
        "{}\nRegenerate from the workspace root with `{}` and commit the result.",
        stale.join("\n"),
        keyward_api::CRDGEN_COMMAND
    );
}
