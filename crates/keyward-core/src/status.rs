//! What compile (and the conversion before it) says about each object: ready, or
//! the problems that keep it out of the snapshot. Sources turn this into logs
//! (`keyward serve`) or status conditions (the operator).

use std::fmt;

use crate::model::{Kind, ObjectKey};

/// Why an object is not Ready. Each is a `Ready=False` condition reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// A field fails its own syntax or range check.
    InvalidSpec,
    /// The manifest cannot be read as this kind at all.
    InvalidManifest,
    /// `spec.resources[].name` names a Resource that does not exist or is not Ready.
    ResourceNotFound,
    /// A scope in `spec.resources[].scopes` is not in the Resource's catalog.
    ScopeNotInCatalog,
    /// Another client already holds this client id.
    DuplicateClientId,
    /// Another Resource already holds this identifier.
    DuplicateIdentifier,
    /// Another object of this kind has the same namespace and name.
    DuplicateName,
    /// The client's Secret does not exist (yet) or has no `client_secret`.
    SecretPending,
    /// A Secret of the client's secret name exists and is not the hub's to write.
    SecretConflict,
    /// A field this runtime cannot honour (see `snapshot::Runtime`).
    Unsupported,
    /// The IdentityProvider a client's users would log in with does not
    /// exist, is not Ready, or none is named and the hub has no default.
    IdentityProviderNotFound,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidSpec => "InvalidSpec",
            Reason::InvalidManifest => "InvalidManifest",
            Reason::ResourceNotFound => "ResourceNotFound",
            Reason::ScopeNotInCatalog => "ScopeNotInCatalog",
            Reason::DuplicateClientId => "DuplicateClientId",
            Reason::DuplicateIdentifier => "DuplicateIdentifier",
            Reason::DuplicateName => "DuplicateName",
            Reason::SecretPending => "SecretPending",
            Reason::SecretConflict => "SecretConflict",
            Reason::Unsupported => "Unsupported",
            Reason::IdentityProviderNotFound => "IdentityProviderNotFound",
        }
    }
}

/// One problem, at one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub reason: Reason,
    /// JSON-path-like location in the object, e.g. `spec.resources[0].scopes[1]`.
    pub field: String,
    pub message: String,
    /// A step the hub itself is about to take (it writes the client's Secret
    /// next): reported, but not as something for a user to fix.
    pub transient: bool,
}

impl Problem {
    pub fn new(reason: Reason, field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem { reason, field: field.into(), message: message.into(), transient: false }
    }

    /// See [`Problem::transient`].
    pub fn transient(reason: Reason, field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem { transient: true, ..Problem::new(reason, field, message) }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// The verdict on one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectStatus {
    pub kind: Kind,
    pub key: ObjectKey,
    pub generation: Option<i64>,
    /// Empty when the object is in the snapshot.
    pub problems: Vec<Problem>,
    /// Things worth fixing that do not keep the object out.
    pub warnings: Vec<String>,
    /// For clients: the client id in force (or that would be).
    pub client_id: Option<String>,
}

impl ObjectStatus {
    pub fn ready(&self) -> bool {
        self.problems.is_empty()
    }

    /// Not Ready only until the hub takes its next step.
    pub fn settling(&self) -> bool {
        !self.problems.is_empty() && self.problems.iter().all(|p| p.transient)
    }

    /// The condition reason: the first problem's, or `Accepted`.
    pub fn reason(&self) -> &'static str {
        self.problems.first().map_or("Accepted", |p| p.reason.as_str())
    }

    /// One line for a condition message or a log: every problem, in order.
    pub fn message(&self) -> String {
        if self.problems.is_empty() {
            let mut m = String::from("accepted into the hub");
            for w in &self.warnings {
                m.push_str("; warning: ");
                m.push_str(w);
            }
            m
        } else {
            self.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ")
        }
    }
}
