//! DRF's sliding history (`SimpleRateThrottle`): the times of the requests
//! a throttle let through within its window, newest first; a request is
//! refused while the window holds as many as the rate allows, and the
//! wait it is told is DRF's `wait()`.

use std::collections::VecDeque;
use std::time::Duration;

use super::rate::Rate;

/// One throttle's answer to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// Let through, and recorded.
    Allowed,
    /// Refused; `Some(wait)` until a request is expected to pass, `None`
    /// when DRF's `wait()` has no answer (more requests in the window than
    /// the rate now allows, after the rate was lowered).
    Refused(Option<Duration>),
}

/// DRF's `wait()`: the time until the oldest request in the window leaves
/// it, spread over the requests the rate still has room for.
pub fn wait(rate: Rate, in_window: u64, oldest_leaves_in: Duration) -> Option<Duration> {
    let available = i64::from(rate.requests) - i64::try_from(in_window).unwrap_or(i64::MAX) + 1;
    let available = u32::try_from(available).ok().filter(|n| *n > 0)?;
    Some(oldest_leaves_in / available)
}

/// `allow_request` on `history` (milliseconds on one monotonic clock,
/// newest first) at `now`: trims what left the window, then refuses, or
/// records `now`.
pub fn hit(history: &mut VecDeque<u64>, now: u64, rate: Rate) -> Hit {
    let window = u64::try_from(rate.window().as_millis()).unwrap_or(u64::MAX);
    // DRF: `while history and history[-1] <= now - duration: history.pop()`.
    while history
        .back()
        .is_some_and(|oldest| oldest.saturating_add(window) <= now)
    {
        history.pop_back();
    }
    let in_window = history.len() as u64;
    if in_window >= u64::from(rate.requests) {
        let leaves_in = history
            .back()
            .map_or(window, |oldest| window - now.saturating_sub(*oldest));
        return Hit::Refused(wait(rate, in_window, Duration::from_millis(leaves_in)));
    }
    history.push_front(now);
    Hit::Allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_the_request_past_the_rate_until_the_oldest_leaves() {
        let rate: Rate = "3/minute".parse().unwrap();
        let mut history = VecDeque::new();
        for at in [0, 10_000, 20_000] {
            assert_eq!(hit(&mut history, at, rate), Hit::Allowed);
        }
        // The oldest (at 0) leaves the window at 60 s: 30 s from 30 s.
        assert_eq!(
            hit(&mut history, 30_000, rate),
            Hit::Refused(Some(Duration::from_secs(30)))
        );
        assert_eq!(history.len(), 3, "a refusal is not recorded");
        // DRF: `history[-1] <= now - duration` has left.
        assert_eq!(hit(&mut history, 60_000, rate), Hit::Allowed);
        assert_eq!(
            history.iter().copied().collect::<Vec<_>>(),
            [60_000, 20_000, 10_000]
        );
    }

    #[test]
    fn a_lowered_rate_has_no_wait() {
        let mut history: VecDeque<u64> = [3, 2, 1].into();
        let lowered: Rate = "1/minute".parse().unwrap();
        assert_eq!(hit(&mut history, 4, lowered), Hit::Refused(None));
    }
}
