//! What one policy condition costs in a decision, for docs/policies.md:
//! `cargo bench -p keyward-core --bench condition`. The median of 2000
//! decisions per condition, against the same association whose policy has no
//! condition. A benchmark, not a test: the machine is shared and noisy.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use keyward_core::model::{Effect, GrantType};
use keyward_core::policy::{DecisionInput, decide};
use keyward_core::snapshot::Association;

fn median(a: &Association, i: &DecisionInput<'_>) -> Duration {
    let mut t: Vec<Duration> = (0..2000)
        .map(|_| {
            let s = Instant::now();
            std::hint::black_box(decide(a, i, &mut ()));
            s.elapsed()
        })
        .collect();
    t.sort();
    t[t.len() / 2]
}

fn main() {
    let roles = ["viewer", "finance"];
    let i = DecisionInput {
        requested: None,
        grant: GrantType::JwtBearer,
        tenant: Some("acme"),
        subject: Some("system:serviceaccount:agents:bot"),
        roles: &roles,
        now: keyward_core::UnixTime(1_800_000_000),
    };
    let plain = labelled_world(vec![policy("shop", "d", Effect::Deny, &["refund"])]);
    let Some(pa) = plain.snapshot.client("bot.agents").map(|c| &c.associations[0]) else { return };
    for condition in [
        "request.tenant == 'globex'",
        "!('finance' in request.roles)",
        "request.subject.startsWith('system:serviceaccount:agents:')",
        "request.client.labels.team == 'billing' && 'agent' in request.client.tags",
        "request.time.getHours() < 8 || request.time.getHours() >= 18",
        "request.subject.matches('^system:serviceaccount:[a-z-]+:bot$')",
    ] {
        let mut p = policy("shop", "d", Effect::Deny, &["refund"]);
        p.condition = Some(condition.into());
        let c = labelled_world(vec![p]);
        let Some(a) = c.snapshot.client("bot.agents").map(|c| &c.associations[0]) else { continue };
        println!("decide with {condition:?}: {:?} (without condition: {:?})", median(a, &i), median(pa, &i));
    }
}
