use std::time::Duration;

use keyward_core::UnixTime;
use keyward_core::keys::{Algorithm, KeyAction, KeyMeta, KeyState, RotationPolicy, apply, plan};

const DAY: u64 = 24 * 3600;

fn policy() -> RotationPolicy {
    RotationPolicy {
        algorithm: Algorithm::ES256,
        rotate_after: Duration::from_secs(30 * DAY),
        publish_ahead: Duration::from_secs(DAY),
        retain_after_retire: Duration::from_secs(2 * DAY),
    }
}

/// Carries out a plan the way the edge does, with predictable kids.
fn run(ring: &mut Vec<KeyMeta>, p: &RotationPolicy, now: u64) -> Vec<KeyAction> {
    let actions = plan(ring, p, UnixTime(now));
    for a in &actions {
        match a {
            KeyAction::Generate { alg, state } => ring.push(KeyMeta {
                kid: format!("k{}", ring.len() + 100 * now as usize),
                alg: *alg,
                state: *state,
                created_at: UnixTime(now),
                activated_at: (*state == KeyState::Active).then_some(UnixTime(now)),
                retired_at: None,
            }),
            other => apply(ring, other, UnixTime(now)),
        }
    }
    actions
}

fn states(ring: &[KeyMeta]) -> Vec<KeyState> {
    ring.iter().map(|k| k.state).collect()
}

#[test]
fn an_empty_ring_gets_an_active_key_at_once_then_a_published_next_key() {
    let mut ring = vec![];
    run(&mut ring, &policy(), 0);
    assert_eq!(states(&ring), vec![KeyState::Active]);
    run(&mut ring, &policy(), 0);
    assert_eq!(states(&ring), vec![KeyState::Active, KeyState::Next]);
    assert!(run(&mut ring, &policy(), 0).is_empty(), "a settled ring has nothing to do");
}

#[test]
fn the_next_key_signs_only_after_rotation_is_due() {
    let mut ring = vec![];
    run(&mut ring, &policy(), 0);
    run(&mut ring, &policy(), 0);
    assert!(run(&mut ring, &policy(), 30 * DAY - 1).is_empty());
    let a = run(&mut ring, &policy(), 30 * DAY);
    assert!(matches!(a[0], KeyAction::Promote { .. }));
    assert_eq!(states(&ring), vec![KeyState::Retired, KeyState::Active]);
}

#[test]
fn a_next_key_published_too_recently_waits_even_when_rotation_is_due() {
    let mut ring = vec![];
    run(&mut ring, &policy(), 0);
    // The next key only appears late (e.g. the hub was down): it must still be
    // published for a day before it signs.
    run(&mut ring, &policy(), 40 * DAY);
    assert!(run(&mut ring, &policy(), 40 * DAY + DAY - 1).is_empty());
    assert!(!run(&mut ring, &policy(), 41 * DAY).is_empty());
}

#[test]
fn a_retired_key_stays_published_until_its_tokens_expired() {
    let mut ring = vec![];
    run(&mut ring, &policy(), 0);
    run(&mut ring, &policy(), 0);
    run(&mut ring, &policy(), 30 * DAY);
    let retired = ring[0].kid.clone();
    run(&mut ring, &policy(), 32 * DAY - 1);
    assert!(ring.iter().any(|k| k.kid == retired));
    run(&mut ring, &policy(), 32 * DAY);
    assert!(!ring.iter().any(|k| k.kid == retired));
}

#[test]
fn changing_the_algorithm_rotates_through_a_published_key_of_the_new_kind() {
    let mut ring = vec![];
    run(&mut ring, &policy(), 0);
    run(&mut ring, &policy(), 0);
    let mut p = policy();
    p.algorithm = Algorithm::EdDSA;
    run(&mut ring, &p, DAY);
    let next = ring.iter().find(|k| k.state == KeyState::Next && k.alg == Algorithm::EdDSA).unwrap().kid.clone();
    assert!(run(&mut ring, &p, DAY).is_empty(), "the new key waits for its publication period");
    run(&mut ring, &p, 2 * DAY);
    assert_eq!(ring.iter().find(|k| k.state == KeyState::Active).unwrap().kid, next);
}

#[test]
fn exactly_one_key_is_active_through_a_year_of_daily_planning() {
    let mut ring = vec![];
    for day in 0..365 {
        run(&mut ring, &policy(), day * DAY);
        run(&mut ring, &policy(), day * DAY);
        assert_eq!(ring.iter().filter(|k| k.state == KeyState::Active).count(), 1, "day {day}");
        assert!(ring.len() <= 4, "day {day}: {ring:?}");
    }
}
