//! The controller against real API servers built on this machine
//! (`../shared/tools/kube-fullenv`, `../shared/tools/kube-testenv`).
//!
//! - `KEYWARD_TEST_KUBECONFIG`: kube-apiserver + controller-manager 1.20 —
//!   Secrets, Leases, events, owner garbage collection. The controller runs
//!   in-process against it (`fullenv.rs`).
//! - `KEYWARD_TESTENV_KUBECONFIG`: a current CRD API server — CEL rules and
//!   schemas of the generated CRDs, and every example (`testenv.rs`).
//!
//! Without a kubeconfig a test is compiled ignored (`build.rs`) and listed as
//! such with the variable it needs; under `CI=true` it runs and a missing
//! kubeconfig fails: CI never skips this tier quietly. Any API server will do
//! for the tests that only need the Kubernetes API (kind, k3d, envtest: point
//! the variable at its kubeconfig); the API-server restart test in
//! `outages.rs` needs kube-fullenv's own processes and says SKIP elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod election;
mod fullenv;
mod incarnation;
mod outages;
mod people;
mod records;
mod registration;
mod store;
mod support;
mod testenv;
