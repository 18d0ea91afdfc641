//! Snapshot build at scale: 10,000 OAuthClients and 1,000 Resources (plus 50
//! AccessPolicies), as a folder of manifests. Measures each stage `keyward
//! serve` runs on a reload — read + parse YAML, convert + assemble, compile —
//! as medians over several runs, and the process's peak RSS.
//!
//!   cargo bench --bench snapshot            # CLIENTS=10000 RESOURCES=1000 RUNS=5
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use keyward::sources::ClientRef;
use keyward::sources::credentials::Outcome;
use keyward::sources::{assemble, folder::Folder};
use keyward_core::compile;
use keyward_core::snapshot::{HubSettings, Lifetimes, Runtime};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn write_world(dir: &std::path::Path, clients: usize, resources: usize) {
    let mut r = String::new();
    for i in 0..resources {
        writeln!(
            r,
            "---\napiVersion: keyward.dev/v1alpha1\nkind: Resource\nmetadata: {{name: api-{i}, namespace: ns-{}, labels: {{tier: t{}}}}}\nspec:\n  type: api\n  identifier: https://api-{i}.example.internal\n  displayName: API {i}\n  scopes:\n    - {{name: read, roles: [viewer]}}\n    - {{name: write, roles: [editor]}}\n    - {{name: admin, roles: [admin]}}",
            i % 20,
            i % 3
        )
        .unwrap();
    }
    std::fs::write(dir.join("resources.yaml"), r).unwrap();
    let mut p = String::new();
    for i in 0..50 {
        writeln!(
            p,
            "---\napiVersion: keyward.dev/v1alpha1\nkind: AccessPolicy\nmetadata: {{name: p{i}, namespace: ns-{}}}\nspec:\n  effect: {}\n  resources: {{matchLabels: {{tier: t{}}}}}\n  clients: {{tags: [team-{}]}}\n  scopes: [read, write]",
            i % 20,
            if i % 5 == 0 { "deny" } else { "allow" },
            i % 3,
            i % 10
        )
        .unwrap();
    }
    std::fs::write(dir.join("policies.yaml"), p).unwrap();
    // Ten files of clients, as a team would split them.
    for f in 0..10 {
        let mut c = String::new();
        for i in (f..clients).step_by(10) {
            writeln!(
                c,
                "---\napiVersion: keyward.dev/v1alpha1\nkind: OAuthClient\nmetadata: {{name: agent-{i}, namespace: agents-{}}}\nspec:\n  displayName: Agent {i}\n  tags: [team-{}]\n  grantTypes: {{clientCredentials: {{allowedTenants: [t1, t2]}}}}\n  resources:\n    - {{name: api-{}, namespace: ns-{}, scopes: [read, write]}}\n    - {{name: api-{}, namespace: ns-{}, scopes: [read]}}",
                i % 50,
                i % 10,
                i % resources,
                (i % resources) % 20,
                // 6i+1 is odd and the modulus even in the default run, so the
                // two entries never name the same Resource.
                (i * 7 + 1) % resources,
                ((i * 7 + 1) % resources) % 20
            )
            .unwrap();
        }
        std::fs::write(dir.join(format!("clients-{f}.yaml")), c).unwrap();
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let (clients, resources, runs) = (env("CLIENTS", 10_000), env("RESOURCES", 1_000), env("RUNS", 5));
    let dir = tempfile::tempdir().unwrap();
    write_world(dir.path(), clients, resources);
    let settings =
        HubSettings { issuer: "https://hub.example".into(), defaults: Lifetimes::default(), runtime: Runtime::Folder };
    // Secrets are not what is measured: every client gets a fixed one.
    let secret = |_: &ClientRef<'_>| {
        let digest = keyward_core::secret::SecretDigest([7; 32]);
        Ok((keyward_core::secret::ClientSecrets::single(digest), Outcome::Existing))
    };
    let rss_before = rss_kib("VmRSS:");

    let (mut parse, mut convert, mut build) = (vec![], vec![], vec![]);
    let mut kept = None;
    for _ in 0..runs {
        let t = Instant::now();
        let mut folder = Folder::new(dir.path(), "default");
        folder.scan().unwrap();
        parse.push(t.elapsed());
        let t = Instant::now();
        let loaded = assemble(&folder, settings.clone(), &secret);
        convert.push(t.elapsed());
        assert!(loaded.statuses.is_empty(), "{:?}", &loaded.statuses[..1]);
        let t = Instant::now();
        let compiled = compile(loaded.input);
        build.push(t.elapsed());
        assert!(compiled.statuses.iter().all(|s| s.ready()));
        assert_eq!(compiled.snapshot.clients().count(), clients);
        drop(folder);
        kept = Some(compiled.snapshot);
    }
    let rss_with_snapshot = rss_kib("VmRSS:");
    let (p, c, b) = (median(parse), median(convert), median(build));
    println!("snapshot: {clients} clients, {resources} resources, 50 policies; median of {runs} runs");
    println!("  read + parse YAML   {:>8.1} ms", p.as_secs_f64() * 1e3);
    println!("  convert + assemble  {:>8.1} ms", c.as_secs_f64() * 1e3);
    println!("  compile             {:>8.1} ms", b.as_secs_f64() * 1e3);
    println!("  total reload        {:>8.1} ms", (p + c + b).as_secs_f64() * 1e3);
    println!(
        "  RSS: {:.1} MiB at start, {:.1} MiB holding one snapshot, peak {:.1} MiB",
        rss_before as f64 / 1024.0,
        rss_with_snapshot as f64 / 1024.0,
        rss_kib("VmHWM:") as f64 / 1024.0
    );
    drop(kept);
}
