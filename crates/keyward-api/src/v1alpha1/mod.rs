//! `keyward.dev/v1alpha1`: the custom resources as they are written in
//! YAML. Owns the wire shape, the field docs (`kubectl explain`) and the
//! schema/CEL rules; owns no validation logic (that is `crate::convert`).
//!
//! Compatibility rules for this version: new fields are optional, enums only
//! gain values, and nothing relies on `deny_unknown_fields` (an older operator
//! must keep reading objects written against a newer CRD).

pub mod access_policy;
pub mod common;
pub mod identity_provider;
pub mod oauth_client;
pub mod resource;

pub use access_policy::{
    AccessPolicy, AccessPolicySpec, AccessPolicyStatus, ClientSelectorSpec, Effect, GrantTypeName, ResourceSelectorSpec,
};
pub use common::ObjectRef;
pub use identity_provider::{
    ClaimMapSpec, GroupRolesSpec, IdentityProvider, IdentityProviderSpec, IdentityProviderStatus, IdentityProviderType,
    OidcSpec, SecretKeyRef, StaticUserSpec, StaticUsersSpec,
};
pub use oauth_client::{
    AuthorizationCodeSpec, ClaimMappingsSpec, ClientCredentialsSpec, ClientOrigin, ClientResource, ClientSecretSpec,
    GrantTypesSpec, JwkSetSpec, JwkSpec, JwtBearerSpec, OAuthClient, OAuthClientSpec, OAuthClientStatus, SecretRef,
    SecretRotationSpec, SessionSpec, TokenEndpointAuthMethod, TokenExchangeSpec, TrustedIssuerSpec,
};
pub use resource::{IntrospectionSpec, Resource, ResourceSpec, ResourceStatus, ResourceType, ScopeSpec};
