//! The cost model: a condition's worst-case number of evaluation steps,
//! estimated when it compiles, must stay under [`MAX_COST`] so one policy
//! cannot stall the token path. The checker (`check.rs`) walks the tree and
//! combines its parts' costs with these rules.

/// The most a condition may cost, in evaluation steps, when every list it
/// iterates is as long as it can be. Keeps one policy from stalling the token
/// path; a plain condition costs a few dozen.
pub const MAX_COST: u64 = 100_000;

/// Lists whose length the hub does not bound are assumed this long when the
/// cost is estimated.
pub(super) const UNBOUNDED_LIST: u64 = 128;

/// How long a list or map field of `request` can be.
pub(super) fn bound_of(what: &str, field: &str) -> u64 {
    match (what, field) {
        ("request.client", "tags") => 32,
        (_, "labels") => 64,
        _ => UNBOUNDED_LIST,
    }
}

/// A macro's loop (`all`, `exists`, `map`, `filter`…): the range, the
/// accumulator's start, each item's condition and step for as many items as
/// the range can hold (at least one), and the result.
pub(super) fn comprehension(range: u64, range_size: u64, init: u64, per_item: u64, result: u64) -> u64 {
    range.saturating_add(init).saturating_add(range_size.max(1).saturating_mul(per_item)).saturating_add(result)
}

/// A function or operator call: one step, plus its target and arguments.
pub(super) fn call(target: Option<u64>, args: impl Iterator<Item = u64>) -> u64 {
    args.fold(1u64.saturating_add(target.unwrap_or(0)), u64::saturating_add)
}

/// Whether a condition of `cost` may run.
pub(super) fn within_bound(cost: u64) -> Result<(), String> {
    if cost > MAX_COST {
        return Err(format!(
            "the condition may cost up to {cost} evaluation steps, more than the {MAX_COST} allowed; iterate over fewer or shorter lists"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_costs_its_body_per_item_and_never_overflows() {
        assert_eq!(comprehension(1, 32, 1, 3, 1), 1 + 1 + 32 * 3 + 1);
        assert_eq!(comprehension(1, 0, 1, 3, 1), 1 + 1 + 3 + 1);
        assert_eq!(comprehension(u64::MAX, u64::MAX, 1, 2, 1), u64::MAX);
        assert_eq!(call(Some(2), [3, 4].into_iter()), 10);
        assert_eq!(call(None, std::iter::empty()), 1);
        assert!(within_bound(MAX_COST).is_ok());
        assert!(within_bound(MAX_COST + 1).unwrap_err().contains("more than the 100000 allowed"));
    }
}
