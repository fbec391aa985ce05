//! A sliding-window log in Redis, the shared history behind DRF-style
//! throttles (`crate::throttle`) when several replicas share one Redis:
//! one list per key, newest first, trimmed and appended in one script so
//! that two replicas cannot both take a request's last place. Timed by
//! Redis's own clock, so replicas whose clocks differ still agree.

use super::RedisStore;
use crate::session::StoreError;

/// DRF's `SimpleRateThrottle.allow_request` over a Redis list of
/// millisecond timestamps (newest first): drops what is older than the
/// window, then refuses when `limit` requests remain in it, or records
/// this one. Answers `{allowed, entries in the window, ms until the
/// oldest leaves it}`. Milliseconds since the epoch have 13 digits, which
/// Lua's numbers and its `%.0f` carry exactly. Time never runs backwards
/// here: a Redis whose clock stepped back (or a failover to one behind)
/// counts from the newest time recorded. Redis before 5 needs
/// `replicate_commands` to write after reading `TIME`.
const SLIDE: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local newest = redis.call('LINDEX', KEYS[1], 0)
if newest and tonumber(newest) > now then now = tonumber(newest) end
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
while true do
  local oldest = redis.call('LINDEX', KEYS[1], -1)
  if not oldest or tonumber(oldest) > now - window then break end
  redis.call('RPOP', KEYS[1])
end
local count = redis.call('LLEN', KEYS[1])
if count >= limit then
  local oldest = tonumber(redis.call('LINDEX', KEYS[1], -1))
  return {0, count, math.max(1, window - (now - oldest))}
end
redis.call('LPUSH', KEYS[1], string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], window)
return {1, count + 1, 0}
";

/// What the log said of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogAnswer {
    /// The request took a place in the window (and was recorded).
    pub allowed: bool,
    /// Requests in the window, this one included when allowed.
    pub count: u64,
    /// When refused: milliseconds until the oldest request leaves the window.
    pub oldest_leaves_in_ms: u64,
}

impl RedisStore {
    /// One request against the log `<prefix>throttle:<name>`: at most
    /// `limit` requests in any `window_ms`.
    pub async fn slide_window(
        &self,
        name: &str,
        limit: u32,
        window_ms: u64,
    ) -> Result<LogAnswer, StoreError> {
        let mut connection = self.connection()?;
        let mut eval = redis::cmd("EVAL");
        eval.arg(SLIDE)
            .arg(1)
            .arg(format!("{}throttle:{name}", self.inner.prefix))
            .arg(window_ms)
            .arg(limit);
        let (allowed, count, left): (i64, i64, i64) = self
            .bounded(async move { eval.query_async(&mut connection).await })
            .await?;
        Ok(LogAnswer {
            allowed: allowed == 1,
            count: u64::try_from(count).unwrap_or(0),
            oldest_leaves_in_ms: u64::try_from(left).unwrap_or(1).max(1),
        })
    }
}
