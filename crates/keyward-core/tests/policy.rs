use crate::common::*;
use keyward_core::model::{ClientSelector, Effect, GrantType, ObjectKey};
use keyward_core::policy::{DecisionInput, Removal, Verdict, decide, explain};

fn world(policies: Vec<keyward_core::model::Policy>) -> keyward_core::Compiled {
    let mut w = World::new()
        .resource(api("shop", "orders", "https://api/orders", &["read", "write", "refund", "admin"]))
        .client(client("agents", "bot").tags(&["agent"]).may("shop", "orders", &["read", "write", "refund"]));
    for p in policies {
        w = w.policy(p);
    }
    w.compile()
}

fn input<'a>(requested: Option<&'a [&'a str]>) -> DecisionInput<'a> {
    DecisionInput {
        requested,
        grant: GrantType::ClientCredentials,
        tenant: None,
        subject: None,
        roles: &[],
        now: keyward_core::UnixTime(0),
    }
}

fn granted(c: &keyward_core::Compiled, i: DecisionInput<'_>) -> Vec<String> {
    let a = &c.snapshot.client("bot.agents").unwrap().associations[0];
    decide(a, &i, &mut ()).into_iter().map(str::to_owned).collect()
}

#[test]
fn without_policies_the_association_decides() {
    let c = world(vec![]);
    assert_eq!(granted(&c, input(Some(&["read", "admin"]))), vec!["read"]);
}

#[test]
fn no_scope_requested_means_the_whole_association() {
    let c = world(vec![]);
    assert_eq!(granted(&c, input(None)), vec!["read", "write", "refund"]);
}

#[test]
fn once_an_allow_policy_applies_only_allowed_scopes_pass() {
    let c = world(vec![policy("shop", "allow-read", Effect::Allow, &["read"])]);
    assert_eq!(granted(&c, input(None)), vec!["read"]);
}

#[test]
fn allow_policies_add_up() {
    let c = world(vec![policy("shop", "a", Effect::Allow, &["read"]), policy("shop", "b", Effect::Allow, &["write"])]);
    assert_eq!(granted(&c, input(None)), vec!["read", "write"]);
}

#[test]
fn deny_wins_over_allow() {
    let c = world(vec![
        policy("shop", "a", Effect::Allow, &["read", "write"]),
        policy("shop", "d", Effect::Deny, &["write"]),
    ]);
    assert_eq!(granted(&c, input(None)), vec!["read"]);
}

#[test]
fn an_allow_policy_for_another_client_does_not_restrict_this_one() {
    let mut p = policy("shop", "others", Effect::Allow, &["read"]);
    p.clients = ClientSelector { tags: vec!["human".into()], ..ClientSelector::default() };
    let c = world(vec![p]);
    assert_eq!(granted(&c, input(None)), vec!["read", "write", "refund"]);
}

#[test]
fn client_selectors_match_by_name_namespace_tag_and_labels() {
    let by_name = ClientSelector { names: vec![ObjectKey::new("agents", "bot")], ..ClientSelector::default() };
    let by_ns = ClientSelector { namespaces: vec!["agents".into()], ..ClientSelector::default() };
    let by_tag = ClientSelector { tags: vec!["agent".into()], ..ClientSelector::default() };
    let wrong_ns = ClientSelector { namespaces: vec!["other".into()], ..ClientSelector::default() };
    let both =
        ClientSelector { tags: vec!["agent".into()], namespaces: vec!["other".into()], ..ClientSelector::default() };
    for (sel, applies) in [(by_name, true), (by_ns, true), (by_tag, true), (wrong_ns, false), (both, false)] {
        let mut p = policy("shop", "d", Effect::Deny, &["write"]);
        p.clients = sel.clone();
        let c = world(vec![p]);
        let expected: Vec<&str> = if applies { vec!["read", "refund"] } else { vec!["read", "write", "refund"] };
        assert_eq!(granted(&c, input(None)), expected, "{sel:?}");
    }
}

#[test]
fn grant_type_and_tenant_conditions_limit_where_a_policy_applies() {
    let mut p = policy("shop", "globex-no-refund", Effect::Deny, &["refund"]);
    p.tenants = vec!["globex".into()];
    p.grant_types = vec![GrantType::ClientCredentials];
    let c = world(vec![p]);
    let mut i = input(None);
    assert_eq!(granted(&c, i), vec!["read", "write", "refund"]);
    i.tenant = Some("acme");
    assert_eq!(granted(&c, i), vec!["read", "write", "refund"]);
    i.tenant = Some("globex");
    assert_eq!(granted(&c, i), vec!["read", "write"]);
    i.grant = GrantType::JwtBearer;
    assert_eq!(granted(&c, i), vec!["read", "write", "refund"]);
}

#[test]
fn the_explanation_names_the_rule_behind_every_verdict() {
    let c = world(vec![
        policy("shop", "allow-rw", Effect::Allow, &["read", "write", "refund"]),
        policy("shop", "no-refund", Effect::Deny, &["refund"]),
    ]);
    let a = &c.snapshot.client("bot.agents").unwrap().associations[0];
    let e = explain(a, &input(Some(&["read", "refund", "admin", "nope"])));
    assert_eq!(
        e.verdicts,
        vec![
            ("read".into(), Verdict::Granted { allowed_by: vec![ObjectKey::new("shop", "allow-rw")] }),
            ("refund".into(), Verdict::Removed(Removal::Denied { by: ObjectKey::new("shop", "no-refund") })),
            ("admin".into(), Verdict::Removed(Removal::NotAssociated)),
            ("nope".into(), Verdict::Removed(Removal::NotInCatalog)),
        ]
    );
    assert_eq!(e.granted(), vec!["read"]);
    let text = e.to_string();
    assert!(text.contains("+ read: granted, allowed by shop/allow-rw"), "{text}");
    assert!(text.contains("- refund: denied by AccessPolicy shop/no-refund"), "{text}");
}

#[test]
fn the_explanation_lists_the_allow_policies_that_left_a_scope_out() {
    let c = world(vec![policy("shop", "read-only", Effect::Allow, &["read"])]);
    let a = &c.snapshot.client("bot.agents").unwrap().associations[0];
    let e = explain(a, &input(None));
    assert!(e.defaulted);
    assert_eq!(
        e.verdicts[1].1,
        Verdict::Removed(Removal::NotAllowed { applicable_allow: vec![ObjectKey::new("shop", "read-only")] })
    );
    assert_eq!(decide(a, &input(None), &mut ()), e.granted());
}

// ---------------------------------------------------------------------------
// Subject selectors and conditions.

use keyward_core::model::{Kind, SubjectSelector};
use keyward_core::policy::{PolicyOutcome, Skip, service_account, service_account_matches, wildcard_match};
use keyward_core::status::Reason;

const SA_BOT: &str = "system:serviceaccount:agents:bot";

fn with_subject<'a>(subject: &'a str, roles: &'a [&'a str]) -> DecisionInput<'a> {
    DecisionInput { subject: Some(subject), roles, grant: GrantType::JwtBearer, ..input(None) }
}

fn deny_write(subjects: SubjectSelector) -> keyward_core::model::Policy {
    let mut p = policy("shop", "no-write", Effect::Deny, &["write"]);
    p.subjects = subjects;
    p
}

fn names(n: &[&str]) -> SubjectSelector {
    SubjectSelector { names: n.iter().map(|s| s.to_string()).collect(), ..SubjectSelector::default() }
}

fn service_accounts(n: &[&str]) -> SubjectSelector {
    SubjectSelector { service_accounts: n.iter().map(|s| s.to_string()).collect(), ..SubjectSelector::default() }
}

fn roles(n: &[&str]) -> SubjectSelector {
    SubjectSelector { roles: n.iter().map(|s| s.to_string()).collect(), ..SubjectSelector::default() }
}

fn outcome_of(c: &keyward_core::Compiled, name: &str, i: &DecisionInput<'_>) -> PolicyOutcome {
    let a = &c.snapshot.client("bot.agents").unwrap().associations[0];
    explain(a, i).outcome(&ObjectKey::new("shop", name)).cloned().unwrap()
}

#[test]
fn wildcards_match_any_run_of_characters() {
    for (pattern, s, expected) in [
        ("alice", "alice", true),
        ("alice", "alice2", false),
        ("*", "", true),
        ("*", "anything:at:all", true),
        ("system:serviceaccount:agents:*", SA_BOT, true),
        ("system:serviceaccount:agents:*", "system:serviceaccount:other:bot", false),
        ("*@example.com", "alice@example.com", true),
        ("*@example.com", "alice@example.com.evil", false),
        ("a*b*c", "aXXbYYc", true),
        ("a*b*c", "aXXcYYb", false),
        ("a**", "a", true),
        ("", "", true),
        ("", "a", false),
        ("*a", "bbba", true),
        ("*a", "bbab", false),
    ] {
        assert_eq!(wildcard_match(pattern, s), expected, "{pattern:?} vs {s:?}");
    }
}

#[test]
fn service_account_subjects_are_recognised_and_matched_by_pattern() {
    assert_eq!(service_account(SA_BOT), Some(("agents", "bot")));
    assert_eq!(service_account("system:serviceaccount:agents"), None);
    assert_eq!(service_account("system:serviceaccount::bot"), None);
    assert_eq!(service_account("system:serviceaccount:a:b:c"), None);
    assert_eq!(service_account("alice"), None);
    for (pattern, expected) in [
        ("agents/bot", true),
        ("agents/*", true),
        ("*/bot", true),
        ("*/*", true),
        ("other/bot", false),
        ("agents/bo", false),
        ("agents", false),
    ] {
        assert_eq!(service_account_matches(pattern, "agents", "bot"), expected, "{pattern}");
    }
}

#[test]
fn a_policy_without_subject_criteria_applies_with_or_without_a_subject() {
    let c = world(vec![deny_write(SubjectSelector::default())]);
    assert_eq!(granted(&c, input(None)), vec!["read", "refund"]);
    assert_eq!(granted(&c, with_subject(SA_BOT, &[])), vec!["read", "refund"]);
}

#[test]
fn a_policy_with_subject_criteria_never_applies_to_a_request_without_a_subject() {
    for sel in [names(&["*"]), service_accounts(&["*/*"]), roles(&["admin"])] {
        let c = world(vec![deny_write(sel.clone())]);
        assert_eq!(granted(&c, input(None)), vec!["read", "write", "refund"], "{sel:?}");
        assert_eq!(outcome_of(&c, "no-write", &input(None)), PolicyOutcome::Skipped(Skip::NoSubject));
    }
}

#[test]
fn subject_names_match_exactly_or_by_wildcard() {
    let c = world(vec![deny_write(names(&["alice", "system:serviceaccount:agents:*"]))]);
    assert_eq!(granted(&c, with_subject("alice", &[])), vec!["read", "refund"]);
    assert_eq!(granted(&c, with_subject(SA_BOT, &[])), vec!["read", "refund"]);
    assert_eq!(granted(&c, with_subject("bob", &[])), vec!["read", "write", "refund"]);
    assert_eq!(outcome_of(&c, "no-write", &with_subject("bob", &[])), PolicyOutcome::Skipped(Skip::SubjectNames));
}

#[test]
fn service_account_selectors_match_namespace_and_name_patterns() {
    for (pattern, applies) in
        [("agents/bot", true), ("agents/*", true), ("*/bot", true), ("other/*", false), ("*/robot", false)]
    {
        let c = world(vec![deny_write(service_accounts(&[pattern]))]);
        let expected: Vec<&str> = if applies { vec!["read", "refund"] } else { vec!["read", "write", "refund"] };
        assert_eq!(granted(&c, with_subject(SA_BOT, &[])), expected, "{pattern}");
    }
    // A user is no service account, whatever its name says.
    let c = world(vec![deny_write(service_accounts(&["*/*"]))]);
    assert_eq!(
        outcome_of(&c, "no-write", &with_subject("agents/bot", &[])),
        PolicyOutcome::Skipped(Skip::ServiceAccounts)
    );
}

#[test]
fn role_selectors_match_any_listed_role() {
    let c = world(vec![deny_write(roles(&["intern", "contractor"]))]);
    assert_eq!(granted(&c, with_subject("alice", &["viewer", "contractor"])), vec!["read", "refund"]);
    assert_eq!(granted(&c, with_subject("alice", &["viewer"])), vec!["read", "write", "refund"]);
    assert_eq!(outcome_of(&c, "no-write", &with_subject("alice", &[])), PolicyOutcome::Skipped(Skip::Roles));
}

#[test]
fn every_subject_criterion_must_hold() {
    let sel = SubjectSelector {
        names: vec!["system:serviceaccount:*".into()],
        service_accounts: vec!["agents/*".into()],
        roles: vec!["writer".into()],
    };
    let c = world(vec![deny_write(sel)]);
    assert_eq!(granted(&c, with_subject(SA_BOT, &["writer"])), vec!["read", "refund"]);
    assert_eq!(outcome_of(&c, "no-write", &with_subject(SA_BOT, &["reader"])), PolicyOutcome::Skipped(Skip::Roles));
    assert_eq!(
        outcome_of(&c, "no-write", &with_subject("system:serviceaccount:other:x", &["writer"])),
        PolicyOutcome::Skipped(Skip::ServiceAccounts)
    );
}

#[test]
fn an_allow_policy_for_other_subjects_does_not_restrict_this_one() {
    let mut p = policy("shop", "sa-read-only", Effect::Allow, &["read"]);
    p.subjects = service_accounts(&["sandbox/*"]);
    let c = world(vec![p]);
    assert_eq!(granted(&c, with_subject(SA_BOT, &[])), vec!["read", "write", "refund"]);
    assert_eq!(granted(&c, with_subject("system:serviceaccount:sandbox:x", &[])), vec!["read"]);
}

fn conditional(name: &str, effect: Effect, scopes: &[&str], condition: &str) -> keyward_core::model::Policy {
    let mut p = policy("shop", name, effect, scopes);
    p.condition = Some(condition.into());
    p
}

#[test]
fn a_deny_condition_that_is_true_denies_and_one_that_is_false_does_not() {
    let c = labelled_world(vec![conditional("d", Effect::Deny, &["refund"], "request.tenant == 'globex'")]);
    let mut i = input(None);
    assert_eq!(granted(&c, i), vec!["read", "write", "refund"]);
    assert_eq!(outcome_of(&c, "d", &i), PolicyOutcome::Skipped(Skip::Condition));
    i.tenant = Some("globex");
    assert_eq!(granted(&c, i), vec!["read", "write"]);
    assert_eq!(outcome_of(&c, "d", &i), PolicyOutcome::Applied);
}

#[test]
fn an_allow_condition_that_is_false_leaves_the_association_in_charge() {
    let c = labelled_world(vec![conditional("a", Effect::Allow, &["read"], "request.tenant == 'acme'")]);
    let mut i = input(None);
    assert_eq!(granted(&c, i), vec!["read", "write", "refund"], "false: the allow does not apply");
    i.tenant = Some("acme");
    assert_eq!(granted(&c, i), vec!["read"], "true: it applies and restricts");
}

#[test]
fn conditions_see_every_request_variable() {
    let now = keyward_core::UnixTime(1_800_000_000); // 2027-01-15T08:00:00Z, a Friday
    let roles = ["viewer", "finance"];
    let i = DecisionInput {
        requested: None,
        grant: GrantType::TokenExchange,
        tenant: Some("acme"),
        subject: Some("alice@example.com"),
        roles: &roles,
        now,
    };
    for (condition, expected) in [
        ("request.client.id == 'bot.agents'", true),
        ("request.client.name == 'bot' && request.client.namespace == 'agents'", true),
        ("'finance' in request.client.tags", true),
        ("request.client.labels.team == 'billing'", true),
        ("request.client.labels['team'] == 'billing'", true),
        ("has(request.client.labels.team) && !has(request.client.labels.tier)", true),
        ("request.resource.identifier == 'https://api/orders'", true),
        ("request.resource.name == 'orders' && request.resource.namespace == 'shop'", true),
        ("request.resource.labels.tier == 'prod'", true),
        ("request.subject.endsWith('@example.com')", true),
        ("request.roles.exists(r, r == 'finance')", true),
        ("size(request.roles) == 2", true),
        ("request.tenant == 'acme'", true),
        ("request.grant == 'tokenExchange'", true),
        ("request.time == timestamp('2027-01-15T08:00:00Z')", true),
        ("request.time.getHours() == 8 && request.time.getDayOfWeek() == 5", true),
        ("request.time - timestamp('2027-01-15T00:00:00Z') == duration('8h')", true),
        ("request.subject.matches('^[a-z]+@example[.]com$')", true),
        ("request.subject.startsWith('system:serviceaccount:')", false),
        ("request.grant == 'token_exchange'", false),
    ] {
        let c = labelled_world(vec![conditional("d", Effect::Deny, &["write"], condition)]);
        assert_eq!(c.status(Kind::AccessPolicy, &ObjectKey::new("shop", "d")).unwrap().problems, vec![], "{condition}");
        let outcome = outcome_of(&c, "d", &i);
        let want = if expected { PolicyOutcome::Applied } else { PolicyOutcome::Skipped(Skip::Condition) };
        assert_eq!(outcome, want, "{condition}");
    }
}

#[test]
fn without_a_subject_or_tenant_the_condition_sees_empty_strings_and_no_roles() {
    let c = labelled_world(vec![conditional(
        "d",
        Effect::Deny,
        &["write"],
        "request.subject == '' && request.tenant == '' && size(request.roles) == 0 && request.grant == 'clientCredentials'",
    )]);
    assert_eq!(outcome_of(&c, "d", &input(None)), PolicyOutcome::Applied);
}

#[test]
fn a_deny_condition_that_fails_at_runtime_denies() {
    // The client has no `owner` label: a missing key is an error, not false.
    let c = labelled_world(vec![conditional("d", Effect::Deny, &["refund"], "request.client.labels.owner == 'x'")]);
    assert_eq!(granted(&c, input(None)), vec!["read", "write"]);
    match outcome_of(&c, "d", &input(None)) {
        PolicyOutcome::FailedClosed { error } => assert!(error.contains("owner"), "{error}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_allow_condition_that_fails_at_runtime_restricts_and_allows_nothing() {
    let c = labelled_world(vec![
        conditional("broken", Effect::Allow, &["read", "write"], "int(request.tenant) > 3"),
        policy("shop", "plain", Effect::Allow, &["read"]),
    ]);
    let mut i = input(None);
    i.tenant = Some("acme");
    // Only the plain allow allows; the failing one still counts as applying, so
    // `write` (named only by the failing one) and `refund` are out.
    assert_eq!(granted(&c, i), vec!["read"]);
    let c = labelled_world(vec![conditional("broken", Effect::Allow, &["read", "write"], "int(request.tenant) > 3")]);
    assert_eq!(granted(&c, i), Vec::<String>::new(), "alone, it leaves nothing: never more than a working policy");
    let a = &c.snapshot.client("bot.agents").unwrap().associations[0];
    let e = explain(a, &i);
    assert_eq!(
        e.verdicts[0].1,
        Verdict::Removed(Removal::NotAllowed { applicable_allow: vec![ObjectKey::new("shop", "broken")] })
    );
}

fn condition_problem(c: &keyward_core::Compiled, name: &str) -> String {
    let st = c.status(Kind::AccessPolicy, &ObjectKey::new("shop", name)).unwrap();
    assert!(!st.ready(), "{st:?}");
    assert_eq!(st.problems.len(), 1, "{st:?}");
    assert_eq!((st.problems[0].reason, st.problems[0].field.as_str()), (Reason::InvalidSpec, "spec.condition"));
    st.problems[0].message.clone()
}

#[test]
fn a_condition_that_does_not_compile_is_rejected_with_its_position() {
    for (condition, message) in [
        ("request.tenant ==", "line 1, column 18: syntax error: mismatched input '<EOF>'"),
        ("request.tenant == 'a' &&\n  request.grant = 'x'", "line 2, column 17: syntax error"),
        (
            "request.tenat == 'acme'",
            "line 1, column 8: request has no field 'tenat'; it has client, resource, subject, roles, tenant, grant, time",
        ),
        ("request.client.team == 'a'", "line 1, column 15: request.client has no field 'team'"),
        ("req.tenant == 'acme'", "line 1, column 1: undeclared reference to 'req'"),
        ("request.tenant == tenant", "line 1, column 19: undeclared reference to 'tenant'"),
        ("lower(request.tenant) == 'a'", "line 1, column 1: unknown function 'lower'"),
        ("request.tenant", "line 1, column 1: a condition must be a bool expression; this one is a string"),
        ("request.roles.size()", "a condition must be a bool expression; this one is an int"),
        ("request.tenant == 1", "line 1, column 16: a string is never equal to an int"),
        ("request.subject == null", "a string is never null"),
        ("request.time > 5", "cannot compare a timestamp with an int"),
        ("request.tenant.startsWith(1)", "startsWith() takes a string, not an int"),
        ("request.roles.startsWith('a')", "startsWith() is a method of strings, not of a list"),
        ("request.subject.matches('[a-')", "invalid regular expression"),
        ("request.time > timestamp('yesterday')", "this always fails: Error executing function 'timestamp'"),
        ("request.tenant.size() > 1 / 0", "line 1, column 27: this always fails: Division by zero"),
        ("Foo{x: 1} == request.tenant", "message construction"),
        ("   ", "the condition is empty"),
    ] {
        let c = labelled_world(vec![conditional("bad", Effect::Deny, &["refund"], condition)]);
        let got = condition_problem(&c, "bad");
        assert!(got.contains(message), "{condition:?}: {got}");
    }
}

#[test]
fn a_condition_too_expensive_to_evaluate_is_rejected() {
    let ten = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]";
    let nested = format!("{ten}.all(a, {ten}.all(b, {ten}.all(c, {ten}.all(d, {ten}.all(e, a + b + c + d + e > 0)))))");
    let c = labelled_world(vec![conditional("costly", Effect::Deny, &["refund"], &nested)]);
    assert!(condition_problem(&c, "costly").contains("more than the 100000 allowed"));
    let fine = format!("{ten}.all(a, {ten}.all(b, a + b > 0))");
    let c = labelled_world(vec![conditional("cheap", Effect::Deny, &["refund"], &fine)]);
    assert!(c.status(Kind::AccessPolicy, &ObjectKey::new("shop", "cheap")).unwrap().ready());
}

#[test]
fn a_deny_policy_whose_condition_does_not_compile_fails_closed() {
    let c = labelled_world(vec![conditional("bad", Effect::Deny, &["refund"], "request.tenat == 'globex'")]);
    let problem = condition_problem(&c, "bad");
    assert!(
        problem.ends_with("until it is fixed, the policy denies its scopes to every request its other selectors match"),
        "{problem}"
    );
    // In force anyway, as if its condition always held: acme loses refunds too.
    let mut i = input(None);
    i.tenant = Some("acme");
    assert_eq!(granted(&c, i), vec!["read", "write"]);
    match outcome_of(&c, "bad", &i) {
        PolicyOutcome::FailedClosed { error } => {
            assert!(error.starts_with("the condition does not compile: line 1, column 8"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    // Its other selectors still limit it.
    let mut p = conditional("bad", Effect::Deny, &["refund"], "request.tenat == 'globex'");
    p.grant_types = vec![GrantType::JwtBearer];
    let c = labelled_world(vec![p]);
    assert_eq!(granted(&c, input(None)), vec!["read", "write", "refund"]);
    // The Resource it governs says so.
    let r = c.status(Kind::Resource, &ObjectKey::new("shop", "orders")).unwrap();
    assert!(r.ready());
    assert_eq!(
        r.warnings,
        vec!["AccessPolicy shop/bad has a condition that does not compile: until it is fixed it denies refund here to every request its other selectors match".to_owned()]
    );
}

#[test]
fn an_allow_policy_whose_condition_does_not_compile_allows_nothing() {
    let c = labelled_world(vec![
        conditional("bad", Effect::Allow, &["refund"], "request.tenant = 'acme'"),
        policy("shop", "readers", Effect::Allow, &["read"]),
    ]);
    assert!(condition_problem(&c, "bad").contains("allows nothing"));
    assert_eq!(granted(&c, input(None)), vec!["read"]);
    let r = c.status(Kind::Resource, &ObjectKey::new("shop", "orders")).unwrap();
    assert!(r.warnings[0].contains("allows nothing here (and restricts)"), "{:?}", r.warnings);
}

#[test]
fn the_explanation_says_which_policies_applied_and_why_others_were_skipped() {
    let mut by_subject = policy("shop", "sandbox-read-only", Effect::Deny, &["write"]);
    by_subject.subjects = service_accounts(&["sandbox/*"]);
    let mut by_grant = policy("shop", "no-exchange", Effect::Deny, &["refund"]);
    by_grant.grant_types = vec![GrantType::TokenExchange];
    let c = labelled_world(vec![
        policy("shop", "agents", Effect::Allow, &["read", "write"]),
        conditional("finance-only-refunds", Effect::Deny, &["refund"], "!('finance' in request.roles)"),
        by_subject,
        by_grant,
        conditional("broken", Effect::Deny, &["admin"], "request.client.labels.owner == 'me'"),
    ]);
    let a = &c.snapshot.client("bot.agents").unwrap().associations[0];
    let e = explain(a, &with_subject(SA_BOT, &["viewer"]));
    let outcome = |name: &str| e.outcome(&ObjectKey::new("shop", name)).cloned().unwrap();
    assert_eq!(e.policies.len(), 5);
    assert_eq!(outcome("agents"), PolicyOutcome::Applied);
    assert_eq!(outcome("finance-only-refunds"), PolicyOutcome::Applied);
    assert_eq!(outcome("sandbox-read-only"), PolicyOutcome::Skipped(Skip::ServiceAccounts));
    assert_eq!(outcome("no-exchange"), PolicyOutcome::Skipped(Skip::GrantType));
    assert!(matches!(outcome("broken"), PolicyOutcome::FailedClosed { error } if error.contains("owner")));
    assert_eq!(e.granted(), vec!["read", "write"]);
    let text = e.to_string();
    for line in [
        "applies   allow shop/agents (read write)",
        "skipped   deny shop/sandbox-read-only (write): the subject is no service account spec.subjects.serviceAccounts names",
        "skipped   deny shop/no-exchange (refund): the request's grant is not in spec.grantTypes",
        "failed    deny shop/broken (admin): denies as if the condition were true: No such key: owner",
        "- refund: denied by AccessPolicy shop/finance-only-refunds",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    // The token path decides the same without building any of it.
    assert_eq!(decide(a, &with_subject(SA_BOT, &["viewer"]), &mut ()), e.granted());
    let e = explain(a, &with_subject(SA_BOT, &["finance"]));
    assert_eq!(
        e.outcome(&ObjectKey::new("shop", "finance-only-refunds")),
        Some(&PolicyOutcome::Skipped(Skip::Condition))
    );
    assert!(e.to_string().contains("skipped   deny shop/finance-only-refunds (refund): spec.condition is false"));
}

#[test]
fn a_condition_only_reaches_clients_and_resources_the_policy_selects() {
    // Another team's policy with a broken condition never touches shop's API.
    let mut p = conditional("bad", Effect::Deny, &["read"], "nope");
    p.meta.key.namespace = "other".into();
    let c = labelled_world(vec![p]);
    assert_eq!(granted(&c, input(None)), vec!["read", "write", "refund"]);
}

#[test]
fn many_policies_decide_the_same_as_few() {
    // More policies than the decision keeps on the stack.
    let mut policies: Vec<_> = (0..40)
        .map(|n| conditional(&format!("p{n}"), Effect::Deny, &["write"], "request.tenant == 'globex'"))
        .collect();
    policies.push(policy("shop", "allow", Effect::Allow, &["read", "write"]));
    let c = labelled_world(policies);
    let mut i = input(None);
    assert_eq!(granted(&c, i), vec!["read", "write"]);
    i.tenant = Some("globex");
    assert_eq!(granted(&c, i), vec!["read"]);
    let a = &c.snapshot.client("bot.agents").unwrap().associations[0];
    assert_eq!(explain(a, &i).policies.len(), 41);
}

/// The worked examples of docs/policies.md, as written there.
#[test]
fn the_documented_condition_examples_load_and_behave() {
    let office_hours =
        "request.time.getDayOfWeek() in [0, 6] ||\nrequest.time.getHours() < 7 ||\nrequest.time.getHours() >= 17";
    let c = labelled_world(vec![conditional("hours", Effect::Deny, &["write"], office_hours)]);
    let mut i = input(None);
    i.now = keyward_core::UnixTime(1_800_000_000); // Friday 08:00 UTC
    assert_eq!(granted(&c, i), vec!["read", "write", "refund"]);
    i.now = keyward_core::UnixTime(1_800_000_000 + 10 * 3600); // Friday 18:00 UTC
    assert_eq!(granted(&c, i), vec!["read", "refund"]);
    i.now = keyward_core::UnixTime(1_800_000_000 + 24 * 3600); // Saturday 08:00 UTC
    assert_eq!(granted(&c, i), vec!["read", "refund"]);

    let team = "!('team' in request.client.labels) ||\nrequest.client.labels.team != request.resource.labels.tier";
    let c = labelled_world(vec![conditional("team", Effect::Deny, &["write"], team)]);
    assert_eq!(granted(&c, input(None)), vec!["read", "refund"], "billing is not prod");

    let roles = "!('finance' in request.roles)";
    let c = labelled_world(vec![conditional("roles", Effect::Deny, &["refund"], roles)]);
    assert_eq!(granted(&c, with_subject("alice", &["finance"])), vec!["read", "write", "refund"]);
    assert_eq!(granted(&c, with_subject("alice", &["viewer"])), vec!["read", "write"]);

    let zoned = conditional("zoned", Effect::Deny, &["write"], "request.time.getHours('Europe/Berlin') < 8");
    let c = labelled_world(vec![zoned]);
    assert!(condition_problem(&c, "zoned").contains("getHours() takes no time zone here"));
}
