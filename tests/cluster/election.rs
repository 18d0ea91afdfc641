//! Leader election on kube-apiserver 1.20: two replicas racing for a fresh
//! Lease never lead at the same time. A lost race used to go unnoticed (one
//! field manager for every replica: two server-side applies of the holder both
//! succeeded), and both replicas wrote for ~10 s, in about 1 of 20 fresh
//! starts; so the race is run many times, at the LeaseManager level (cheap)
//! and with whole replicas.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use keyward::controller::election;
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::support::*;

const VAR: &str = "KEYWARD_TEST_KUBECONFIG";

/// Watches two leadership flags until the race has settled: `settle` after
/// the first leader appeared (or `limit` in all). Returns whether both were
/// ever true at once, and how many lead at the end.
async fn observe(
    mut a: watch::Receiver<bool>,
    mut b: watch::Receiver<bool>,
    settle: Duration,
    limit: Duration,
) -> (bool, usize) {
    let started = Instant::now();
    let mut first_leader: Option<Instant> = None;
    let mut both = false;
    loop {
        let (la, lb) = (*a.borrow_and_update(), *b.borrow_and_update());
        both |= la && lb;
        if (la || lb) && first_leader.is_none() {
            first_leader = Some(Instant::now());
        }
        let until = first_leader.map_or(started + limit, |t| (t + settle).min(started + limit));
        if Instant::now() >= until {
            return (both, usize::from(la) + usize::from(lb));
        }
        // Changes wake us at once; the timer bounds the wait.
        tokio::select! {
            r = a.changed() => if r.is_err() { return (both, 0) },
            r = b.changed() => if r.is_err() { return (both, 0) },
            () = tokio::time::sleep_until(until) => {}
        }
    }
}

/// One round: two managers join a Lease nobody holds and start at once.
async fn race(client: kube::Client, hub: String, round: usize) -> (bool, usize) {
    let lease = format!("race-{round}");
    let (ida, idb) = (format!("replica-{round}-a"), format!("replica-{round}-b"));
    let (a, b) = tokio::join!(
        election::join(client.clone(), &hub, &lease, &ida, 5),
        election::join(client.clone(), &hub, &lease, &idb, 5)
    );
    let ((ra, ta), (rb, tb)) = tokio::join!(a.unwrap().watch(), b.unwrap().watch());
    let outcome = observe(ra, rb, Duration::from_millis(1000), Duration::from_secs(10)).await;
    ta.abort();
    tb.abort();
    outcome
}

#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn two_lease_managers_racing_for_a_fresh_lease_never_both_lead() {
    const ROUNDS: usize = 48;
    const AT_ONCE: usize = 8;
    let Some(client) = client(VAR, "two_lease_managers_racing").await else { return };
    let hub = unique("elect");
    create_namespace(&client, &hub).await;
    let started = std::time::Instant::now();
    let rounds: Vec<(bool, usize)> = futures::stream::iter(0..ROUNDS)
        .map(|i| race(client.clone(), hub.clone(), i))
        .buffer_unordered(AT_ONCE)
        .collect()
        .await;
    let doubles = rounds.iter().filter(|(both, _)| *both).count();
    let leaderless = rounds.iter().filter(|(_, n)| *n != 1).count();
    eprintln!(
        "ELECTION {ROUNDS} LeaseManager races ({AT_ONCE} at a time) in {:.1} s: {doubles} with two leaders at once, {leaderless} without exactly one leader at the end",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(doubles, 0, "two leaders at once in {doubles} of {ROUNDS} rounds");
    assert_eq!(leaderless, 0, "{leaderless} of {ROUNDS} rounds ended without exactly one leader");
}

/// One round: two whole replicas start at once on a hub namespace of their own.
async fn replicas_race(client: kube::Client) -> (bool, usize) {
    let hub = unique("elect");
    create_namespace(&client, &hub).await;
    // The Lease exists, as after a rollout: the replicas race for the holder
    // only, not for its creation too, which would stagger them.
    let lease: Lease = serde_json::from_value(serde_json::json!({"metadata": {"name": "keyward-leader"}})).unwrap();
    Api::<Lease>::namespaced(client.clone(), &hub).create(&PostParams::default(), &lease).await.unwrap();
    let (a, b) = tokio::join!(
        start_replica(&client, ReplicaOptions::new(&hub, &[&hub])),
        start_replica(&client, ReplicaOptions::new(&hub, &[&hub]))
    );
    let (la, lb) = (a.running.as_ref().unwrap().leader.clone(), b.running.as_ref().unwrap().leader.clone());
    observe(la, lb, Duration::from_millis(1500), Duration::from_secs(20)).await
}

#[tokio::test]
#[cfg_attr(not(keyward_fullenv), ignore = "needs KEYWARD_TEST_KUBECONFIG (see tests/cluster/main.rs)")]
async fn two_replicas_starting_together_never_both_lead() {
    const ROUNDS: usize = 12;
    const AT_ONCE: usize = 4;
    let Some(client) = client(VAR, "two_replicas_starting_together").await else { return };
    install_crds(&client, VAR).await;
    let started = std::time::Instant::now();
    let rounds: Vec<(bool, usize)> = futures::stream::iter(0..ROUNDS)
        .map(|_| replicas_race(client.clone()))
        .buffer_unordered(AT_ONCE)
        .collect()
        .await;
    let doubles = rounds.iter().filter(|(both, _)| *both).count();
    let leaderless = rounds.iter().filter(|(_, n)| *n != 1).count();
    eprintln!(
        "ELECTION {ROUNDS} fresh two-replica starts ({AT_ONCE} at a time) in {:.1} s: {doubles} with two leaders at once, {leaderless} without exactly one leader at the end",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(doubles, 0, "two leaders at once in {doubles} of {ROUNDS} starts");
    assert_eq!(leaderless, 0, "{leaderless} of {ROUNDS} starts ended without exactly one leader");
}
