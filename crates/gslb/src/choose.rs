//! Which datacenters answer: the first `max_answers` that are up, in the client's order.
//!
//! When none is up the answer says so and lists them all: the DNS layer then fails open
//! (answers with every datacenter and logs it), because an answer that might work beats
//! one that certainly does not.

/// What [`choose_into`] put in its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The first `max_answers` datacenters that are up, nearest first.
    Healthy,
    /// No datacenter is up: every datacenter, in the client's order (fail open).
    FailOpen,
}

/// Writes into `out` (cleared first) the first `max_answers` entries of `order` for
/// which `is_up` holds (0 means no limit); when none holds, all of `order`, and returns
/// [`Answer::FailOpen`].
pub fn choose_into(
    order: &[usize],
    is_up: impl Fn(usize) -> bool,
    max_answers: usize,
    out: &mut Vec<usize>,
) -> Answer {
    out.clear();
    let limit = if max_answers == 0 {
        usize::MAX
    } else {
        max_answers
    };
    out.extend(order.iter().copied().filter(|&i| is_up(i)).take(limit));
    if out.is_empty() && !order.is_empty() {
        out.extend_from_slice(order);
        return Answer::FailOpen;
    }
    Answer::Healthy
}

/// [`choose_into`] into a new vector.
pub fn choose(
    order: &[usize],
    is_up: impl Fn(usize) -> bool,
    max_answers: usize,
) -> (Answer, Vec<usize>) {
    let mut out = Vec::new();
    let answer = choose_into(order, is_up, max_answers, &mut out);
    (answer, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_first_up_datacenters_in_order() {
        let up = |i: usize| i != 2;
        assert_eq!(choose(&[2, 0, 1], up, 1), (Answer::Healthy, vec![0]));
        assert_eq!(choose(&[2, 0, 1], up, 2), (Answer::Healthy, vec![0, 1]));
        assert_eq!(choose(&[2, 0, 1], up, 5), (Answer::Healthy, vec![0, 1]));
        assert_eq!(choose(&[2, 0, 1], up, 0), (Answer::Healthy, vec![0, 1]));
    }

    #[test]
    fn none_up_fails_open_with_all_of_them() {
        assert_eq!(
            choose(&[1, 0, 2], |_| false, 1),
            (Answer::FailOpen, vec![1, 0, 2])
        );
    }

    #[test]
    fn no_datacenters_is_an_empty_healthy_answer() {
        assert_eq!(choose(&[], |_| true, 1), (Answer::Healthy, vec![]));
    }
}
