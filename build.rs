//! Makes the cluster tier (`tests/cluster/`) visible when it cannot run: its
//! tests are compiled `#[ignore]`d, and so listed as ignored with the reason,
//! unless the kubeconfig of their API server is given (or under `CI=true`,
//! where a missing kubeconfig must fail, not skip). Nothing else reads these
//! settings; changing one rebuilds this package.

fn main() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    println!("cargo::rerun-if-env-changed=CI");
    for (var, cfg) in
        [("KEYWARD_TEST_KUBECONFIG", "keyward_fullenv"), ("KEYWARD_TESTENV_KUBECONFIG", "keyward_testenv")]
    {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-env-changed={var}");
        if ci || std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
