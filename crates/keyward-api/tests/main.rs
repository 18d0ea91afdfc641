//! The CRDs as the API server and the conversion see them: one test binary
//! (one link) for the schema and its CEL rules, the committed `crds/`, and the
//! fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod crd_schema;
mod crds_are_fresh;
mod fixtures;
