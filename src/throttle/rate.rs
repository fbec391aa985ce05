//! DRF's rate syntax: `"<requests>/<period>"`, the period read by its
//! first letter as DRF's `SimpleRateThrottle.parse_rate` reads it (s, m,
//! h, d), with the word checked too, so that `"1000/month"` is refused
//! rather than read as a minute.

use std::fmt;
use std::time::Duration;

/// At most `requests` requests in any `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests allowed in any one period (at least 1).
    pub requests: u32,
    /// The period they are counted over.
    pub period: Period,
}

/// The periods DRF knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Second,
    Minute,
    Hour,
    Day,
}

impl Period {
    /// Its length.
    pub fn duration(self) -> Duration {
        Duration::from_secs(match self {
            Period::Second => 1,
            Period::Minute => 60,
            Period::Hour => 3600,
            Period::Day => 86_400,
        })
    }

    fn word(self) -> &'static str {
        match self {
            Period::Second => "second",
            Period::Minute => "minute",
            Period::Hour => "hour",
            Period::Day => "day",
        }
    }

    /// DRF reads only the first letter; the words it is meant for are
    /// taken whole (and their short forms), anything else is refused.
    fn parse(text: &str) -> Option<Period> {
        Some(match text {
            "s" | "sec" | "secs" | "second" | "seconds" => Period::Second,
            "m" | "min" | "mins" | "minute" | "minutes" => Period::Minute,
            "h" | "hr" | "hrs" | "hour" | "hours" => Period::Hour,
            "d" | "day" | "days" => Period::Day,
            _ => return None,
        })
    }
}

impl Rate {
    /// The window a request stays counted in.
    pub fn window(self) -> Duration {
        self.period.duration()
    }
}

impl std::str::FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Rate, String> {
        let usage = "a rate is \"<requests>/<period>\", the period one of second, minute, hour, day (or s, m, h, d), as in DRF's DEFAULT_THROTTLE_RATES (e.g. \"100/day\")";
        let Some((count, period)) = text.split_once('/') else {
            return Err(format!("{text:?}: {usage}"));
        };
        let requests = match count.parse::<u32>() {
            Ok(0) => return Err(format!("{text:?}: a rate of 0 refuses every request; use access = \"deny\" to close a route")),
            Ok(n) if count.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(format!("{text:?}: {count:?} is not a whole number of requests; {usage}")),
        };
        let Some(period) = Period::parse(period) else {
            return Err(format!("{text:?}: {period:?} is not a period; {usage}"));
        };
        Ok(Rate { requests, period })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.requests, self.period.word())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_drf_rates() {
        let rate: Rate = "100/day".parse().unwrap();
        assert_eq!(rate.requests, 100);
        assert_eq!(rate.window(), Duration::from_secs(86_400));
        assert_eq!(
            "5/m".parse::<Rate>().unwrap().window(),
            Duration::from_secs(60)
        );
        assert_eq!(
            "1000/hour".parse::<Rate>().unwrap().to_string(),
            "1000/hour"
        );
        assert_eq!("3/s".parse::<Rate>().unwrap().period, Period::Second);
    }

    #[test]
    fn refuses_what_drf_would_misread_or_choke_on() {
        for bad in [
            "100",
            "100/month",
            "x/day",
            "-1/day",
            "0/day",
            "1/",
            "/day",
            "1 /day",
            "100/Day",
        ] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }
}
