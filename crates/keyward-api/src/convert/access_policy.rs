//! `AccessPolicy` → `keyward_core::model::Policy`: the effect and scopes, the
//! Resource, client and subject selectors (client names resolved to
//! `namespace/name`), grant types, tenants and the condition's text. Which
//! objects a selector matches is decided by compile and the policy engine, not
//! here.
//!
//! The condition is only checked for length here, not parsed: a policy this
//! conversion refuses never reaches the snapshot, so a deny policy with a typo
//! in its CEL would stop denying. Compile parses it instead and keeps a broken
//! policy in force in its fail-closed form (`keyward_core::policy`).

use keyward_core::model::{self, ClientSelector, Effect, GrantType, ObjectKey, ResourceSelector, SubjectSelector};

use super::{Check, Invalid, is_dns_label, is_dns_subdomain, is_role, split_qualified_name};
use crate::v1alpha1::access_policy::{CONDITION_MAX, SUBJECT_MAX, SubjectSelectorSpec};
use crate::v1alpha1::common::limits;
use crate::v1alpha1::{AccessPolicy, ClientSelectorSpec, GrantTypeName, ResourceSelectorSpec};

impl TryFrom<&AccessPolicy> for model::Policy {
    type Error = Invalid;

    fn try_from(obj: &AccessPolicy) -> Result<Self, Invalid> {
        let mut c = Check::default();
        let meta = c.meta(&obj.metadata);
        let spec = &obj.spec;

        let effect = match spec.effect {
            crate::v1alpha1::Effect::Allow => Effect::Allow,
            crate::v1alpha1::Effect::Deny => Effect::Deny,
        };
        if spec.scopes.is_empty() {
            c.invalid("spec.scopes", "must name at least one scope");
        }
        c.scope_list("spec.scopes", &spec.scopes, limits::SCOPES);
        let resources = spec.resources.as_ref().map(|r| resource_selector(&mut c, r)).unwrap_or_default();
        let clients =
            spec.clients.as_ref().map(|s| client_selector(&mut c, s, &meta.key.namespace)).unwrap_or_default();

        c.max_items("spec.grantTypes", spec.grant_types.len(), limits::GRANT_TYPES);
        let grant_types: Vec<GrantType> = spec.grant_types.iter().map(|g| grant_type(*g)).collect();
        let names: Vec<&str> = grant_types.iter().map(|g| g.manifest_name()).collect();
        c.unique("spec.grantTypes", &names);
        c.tenants("spec.tenants", &spec.tenants);
        let subjects = spec.subjects.as_ref().map(|s| subject_selector(&mut c, s)).unwrap_or_default();
        if let Some(condition) = &spec.condition
            && c.length("spec.condition", condition, 1, CONDITION_MAX)
            && condition.trim().is_empty()
        {
            c.invalid("spec.condition", "must not be blank; leave condition out to apply unconditionally");
        }

        c.finish(model::Policy {
            effect,
            scopes: spec.scopes.clone(),
            resources,
            clients,
            grant_types,
            tenants: spec.tenants.clone(),
            subjects,
            condition: spec.condition.clone(),
            meta,
        })
    }
}

fn resource_selector(c: &mut Check, s: &ResourceSelectorSpec) -> ResourceSelector {
    const FIELD: &str = "spec.resources.names";
    c.max_items(FIELD, s.names.len(), limits::SELECTOR_ENTRIES);
    for (j, name) in s.names.iter().enumerate() {
        c.object_name(&format!("{FIELD}[{j}]"), name);
    }
    c.unique(FIELD, &s.names);
    c.match_labels("spec.resources.matchLabels", &s.match_labels);
    ResourceSelector { names: s.names.clone(), match_labels: s.match_labels.clone() }
}

fn client_selector(c: &mut Check, s: &ClientSelectorSpec, own_namespace: &str) -> ClientSelector {
    const NAMES: &str = "spec.clients.names";
    c.max_items(NAMES, s.names.len(), limits::SELECTOR_ENTRIES);
    let names: Vec<ObjectKey> = s
        .names
        .iter()
        .enumerate()
        .map(|(j, entry)| {
            let field = format!("{NAMES}[{j}]");
            let (namespace, name) = split_qualified_name(entry);
            if let Some(ns) = namespace {
                c.namespace(&field, ns);
            }
            c.object_name(&field, name);
            ObjectKey::new(namespace.unwrap_or(own_namespace), name)
        })
        .collect();
    // `x` and `<own namespace>/x` name the same client.
    c.unique(NAMES, &names);

    const NAMESPACES: &str = "spec.clients.namespaces";
    c.max_items(NAMESPACES, s.namespaces.len(), limits::SELECTOR_ENTRIES);
    for (j, ns) in s.namespaces.iter().enumerate() {
        c.namespace(&format!("{NAMESPACES}[{j}]"), ns);
    }
    c.unique(NAMESPACES, &s.namespaces);
    c.tags("spec.clients.tags", &s.tags);
    c.match_labels("spec.clients.matchLabels", &s.match_labels);
    ClientSelector {
        names,
        namespaces: s.namespaces.clone(),
        tags: s.tags.clone(),
        match_labels: s.match_labels.clone(),
    }
}

fn subject_selector(c: &mut Check, s: &SubjectSelectorSpec) -> SubjectSelector {
    if s.names.is_empty() && s.service_accounts.is_empty() && s.roles.is_empty() {
        c.invalid(
            "spec.subjects",
            "must set names, serviceAccounts or roles; leave subjects out to select every subject",
        );
    }
    const NAMES: &str = "spec.subjects.names";
    c.max_items(NAMES, s.names.len(), limits::SELECTOR_ENTRIES);
    for (j, name) in s.names.iter().enumerate() {
        let field = format!("{NAMES}[{j}]");
        if c.length(&field, name, 1, SUBJECT_MAX) && name.chars().any(char::is_control) {
            c.invalid(field, "contains control characters".to_owned());
        }
    }
    c.unique(NAMES, &s.names);

    const ACCOUNTS: &str = "spec.subjects.serviceAccounts";
    c.max_items(ACCOUNTS, s.service_accounts.len(), limits::SELECTOR_ENTRIES);
    for (j, entry) in s.service_accounts.iter().enumerate() {
        let field = format!("{ACCOUNTS}[{j}]");
        if !c.length(&field, entry, 3, limits::QUALIFIED_NAME) {
            continue;
        }
        let valid = entry.split_once('/').is_some_and(|(ns, name)| {
            (ns == "*" || (ns.len() <= limits::NAMESPACE && is_dns_label(ns)))
                && (name == "*" || (name.len() <= limits::NAME && is_dns_subdomain(name)))
        });
        if !valid {
            c.invalid(
                field,
                "is not a service account: write namespace/name, namespace/*, */name or */* (lowercase DNS names)",
            );
        }
    }
    c.unique(ACCOUNTS, &s.service_accounts);

    const ROLES: &str = "spec.subjects.roles";
    c.max_items(ROLES, s.roles.len(), limits::ROLES);
    for (j, role) in s.roles.iter().enumerate() {
        let field = format!("{ROLES}[{j}]");
        if c.length(&field, role, 1, limits::ROLE) && !is_role(role) {
            c.invalid(field, "is not a valid role: use printable ASCII without spaces".to_owned());
        }
    }
    c.unique(ROLES, &s.roles);
    SubjectSelector { names: s.names.clone(), service_accounts: s.service_accounts.clone(), roles: s.roles.clone() }
}

fn grant_type(g: GrantTypeName) -> GrantType {
    match g {
        GrantTypeName::AuthorizationCode => GrantType::AuthorizationCode,
        GrantTypeName::RefreshToken => GrantType::RefreshToken,
        GrantTypeName::ClientCredentials => GrantType::ClientCredentials,
        GrantTypeName::JwtBearer => GrantType::JwtBearer,
        GrantTypeName::TokenExchange => GrantType::TokenExchange,
        GrantTypeName::Ciba => GrantType::Ciba,
    }
}

#[cfg(test)]
mod tests;
