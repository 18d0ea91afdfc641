//! The controller against real API servers built on this machine
//! (`../shared/tools/kube-fullenv`, `../shared/tools/kube-testenv`).
//!
//! - `KEYWARD_TEST_KUBECONFIG`: kube-apiserver + controller-manager 1.20 —
//!   Secrets, Leases, events, owner garbage collection. The controller runs
//!   in-process against it (`fullenv.rs`).
//! - `KEYWARD_TESTENV_KUBECONFIG`: a current CRD API server — CEL rules and
//!   schemas of the generated CRDs, and every example (`testenv.rs`).
//!
//! Without them these tests say SKIP and pass, except under `CI=true`, where a
//! missing kubeconfig is a failure: CI never skips this tier quietly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod election;
mod fullenv;
mod incarnation;
mod outages;
mod store;
mod support;
mod testenv;
