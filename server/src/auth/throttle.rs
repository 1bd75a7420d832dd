//! Throttling of guesses: wrong passwords (per account and per client address), device user
//! codes that match nothing (per signed-in user and per address) and unknown API tokens (per
//! address). After `limit` failures within `window` of the first one, a key is refused until
//! that window ends — without checking the guess, so a right guess is not told apart from a
//! wrong one. Only failures count, in memory (a restart forgets them).
//!
//! Replicas sharing a store count together: a failure is also added to the store's count of
//! its key, and the replica takes the store's count when it is higher. Checks stay in memory
//! (no query for the requests that fail nothing), so once a key has used up its failures
//! anywhere, each other replica allows it at most one more failure in that window.
//!
//! Memory is bounded: each table holds at most [`CAPACITY`] keys. When it is full, keys whose
//! window has passed go first, then the key with the fewest failures, so a flood of fresh keys
//! (many addresses, made-up account names) cannot push out an account under attack. IPv6
//! clients are counted per /64, the block one subscriber usually gets.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::store::Sessions;

/// Keys one table keeps at most.
pub const CAPACITY: usize = 10_000;
/// Unknown API tokens allowed per address and window, as a multiple of the password limit: a
/// script with a revoked token should not lock its whole office out as quickly.
const TOKEN_FACTOR: u32 = 10;
/// Longest account name kept (longer ones cannot be a user's name).
const MAX_NAME: usize = 64;

/// What failures are counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// A username as typed at sign-in (trimmed, cut to 64 bytes), whether it exists or not.
    Account(String),
    /// A signed-in user.
    User(Uuid),
    /// A client address (an IPv6 one as its /64).
    Address(IpAddr),
}

impl Key {
    /// The key as the store counts it, beside `what` (the throttle's name).
    fn stored(&self, what: &str) -> String {
        match self {
            Key::Account(name) => format!("{what}/account/{name}"),
            Key::User(id) => format!("{what}/user/{id}"),
            Key::Address(ip) => format!("{what}/address/{ip}"),
        }
    }

    /// The key of a username typed at sign-in.
    pub fn account(name: &str) -> Key {
        let name = name.trim();
        let mut end = name.len().min(MAX_NAME);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        Key::Account(name[..end].to_owned())
    }

    /// The key of a client address.
    pub fn address(ip: IpAddr) -> Key {
        Key::Address(match ip {
            IpAddr::V4(_) => ip,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
            },
        })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Account(name) => write!(f, "account `{name}`"),
            Key::User(id) => write!(f, "user {id}"),
            Key::Address(IpAddr::V6(v6)) => write!(f, "address {v6}/64"),
            Key::Address(ip) => write!(f, "address {ip}"),
        }
    }
}

/// Failures of one key since the first one of its window.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
}

/// One kind of guess: its limit, its window and the failures seen.
pub struct Throttle {
    what: &'static str,
    limit: u32,
    window: Duration,
    table: Mutex<HashMap<Key, Failures>>,
    /// The store the replicas count failures in, when several share it.
    shared: Option<Arc<dyn Sessions>>,
}

impl fmt::Debug for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("what", &self.what)
            .field("limit", &self.limit)
            .field("window", &self.window)
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

impl Throttle {
    /// A throttle of `limit` failures per `window`; `what` names the guesses in the log.
    pub fn new(what: &'static str, limit: u32, window: Duration) -> Throttle {
        Throttle {
            what,
            limit: limit.max(1),
            window,
            table: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// Counts failures in `store` too, with the other replicas that share it.
    pub fn shared_in(mut self, store: Arc<dyn Sessions>) -> Throttle {
        self.shared = Some(store);
        self
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Failures>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(wait)` when any of `keys` has used up its failures: the time until its window ends.
    pub fn check(&self, keys: &[Key]) -> Result<(), Duration> {
        let now = Instant::now();
        let table = self.table();
        let wait = keys
            .iter()
            .filter_map(|key| table.get(key))
            .filter(|f| f.count >= self.limit)
            .filter_map(|f| (f.since + self.window).checked_duration_since(now))
            .filter(|left| !left.is_zero())
            .max();
        match wait {
            Some(wait) => {
                tracing::debug!(what = self.what, "refused while throttled");
                Err(wait)
            }
            None => Ok(()),
        }
    }

    /// Counts a failure against each of `keys` (in the shared store too, when there is one);
    /// logs a warning for each key that reaches the limit.
    pub async fn fail(&self, keys: &[Key]) {
        let mut counted = Vec::new();
        if let Some(store) = &self.shared {
            let now = time::OffsetDateTime::now_utc();
            for key in keys {
                match store
                    .count_failure(&key.stored(self.what), now, self.window)
                    .await
                {
                    Ok((count, until)) => counted.push((key, count, until - now)),
                    Err(e) => tracing::warn!(error = %e, "counting a failed sign-in in the store"),
                }
            }
        }
        self.fail_here(keys);
        // What the other replicas counted: a higher count, with its window's end.
        let now = Instant::now();
        let mut table = self.table();
        for (key, count, left) in counted {
            let Some(failures) = table.get_mut(key) else {
                continue;
            };
            let left = Duration::try_from(left)
                .unwrap_or_default()
                .min(self.window);
            if count > failures.count && !left.is_zero() {
                failures.count = count;
                failures.since = now.checked_sub(self.window - left).unwrap_or(now);
            }
        }
    }

    /// [`Throttle::fail`] in this process's memory.
    fn fail_here(&self, keys: &[Key]) {
        let now = Instant::now();
        let mut table = self.table();
        for key in keys {
            if !table.contains_key(key) && table.len() >= CAPACITY {
                self.make_room(&mut table, now);
            }
            let failures = table.entry(key.clone()).or_insert(Failures {
                count: 0,
                since: now,
            });
            if now.duration_since(failures.since) >= self.window {
                *failures = Failures {
                    count: 0,
                    since: now,
                };
            }
            failures.count = failures.count.saturating_add(1);
            if failures.count == self.limit {
                tracing::warn!(
                    what = self.what,
                    failures = self.limit,
                    window_secs = self.window.as_secs(),
                    "throttling {key}: too many failed {} (refused until the window ends)",
                    self.what
                );
            }
        }
    }

    /// Forgets the failures of `key` (its owner proved who they are), here and in the shared
    /// store.
    pub async fn forget(&self, key: &Key) {
        self.table().remove(key);
        if let Some(store) = &self.shared
            && let Err(e) = store.forget_failures(&key.stored(self.what)).await
        {
            tracing::warn!(error = %e, "forgetting failed sign-ins in the store");
        }
    }

    fn make_room(&self, table: &mut HashMap<Key, Failures>, now: Instant) {
        table.retain(|_, f| now.duration_since(f.since) < self.window);
        if table.len() < CAPACITY {
            return;
        }
        let fewest = table
            .iter()
            .min_by_key(|(_, f)| (f.count, f.since))
            .map(|(key, _)| key.clone());
        if let Some(key) = fewest {
            table.remove(&key);
        }
    }
}

/// The server's throttles.
#[derive(Debug)]
pub struct Throttles {
    /// Wrong passwords at `POST /login`, by [`Key::Account`] and [`Key::Address`].
    pub passwords: Throttle,
    /// Device user codes that match nothing at `POST /device`, by [`Key::User`] and
    /// [`Key::Address`].
    pub device_codes: Throttle,
    /// Unknown bearer tokens, by [`Key::Address`]; ten times the limit of the others.
    pub tokens: Throttle,
}

impl Throttles {
    /// `attempts` failures per `window` (tokens: ten times as many).
    pub fn new(attempts: u32, window: Duration) -> Throttles {
        Throttles {
            passwords: Throttle::new("sign-ins", attempts, window),
            device_codes: Throttle::new("device codes", attempts, window),
            tokens: Throttle::new("API tokens", attempts.saturating_mul(TOKEN_FACTOR), window),
        }
    }

    /// Every throttle counting in `store` too, with the other replicas sharing it.
    pub fn shared_in(self, store: Arc<dyn Sessions>) -> Throttles {
        Throttles {
            passwords: self.passwords.shared_in(store.clone()),
            device_codes: self.device_codes.shared_in(store.clone()),
            tokens: self.tokens.shared_in(store),
        }
    }
}

/// Seconds for `Retry-After`: `wait` rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Key {
        Key::address(text.parse().unwrap())
    }

    #[tokio::test]
    async fn a_key_is_refused_after_its_limit_until_the_window_ends() {
        let throttle = Throttle::new("tests", 3, Duration::from_secs(60));
        let keys = [Key::account("bob"), ip("10.0.0.1")];
        for _ in 0..2 {
            throttle.fail(&keys).await;
            assert!(throttle.check(&keys).is_ok());
        }
        throttle.fail(&keys).await;
        let wait = throttle.check(&keys).unwrap_err();
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(55));
        // Each key on its own is throttled: the account from elsewhere, the address for others.
        assert!(throttle.check(&[Key::account(" bob ")]).is_err());
        assert!(throttle.check(&[ip("10.0.0.1")]).is_err());
        assert!(
            throttle
                .check(&[Key::account("alice"), ip("10.0.0.2")])
                .is_ok()
        );

        // The window passes: counting starts again.
        for failures in throttle.table().values_mut() {
            failures.since -= Duration::from_secs(61);
        }
        assert!(throttle.check(&keys).is_ok());
        throttle.fail(&keys).await;
        assert!(throttle.check(&keys).is_ok());
        assert_eq!(throttle.table()[&keys[0]].count, 1);

        throttle.forget(&keys[0]).await;
        assert!(!throttle.table().contains_key(&keys[0]));
    }

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(ip("2001:db8:1:2:aaaa::1"), ip("2001:db8:1:2:bbbb::9"));
        assert_ne!(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1"));
        assert_eq!(ip("::ffff:10.0.0.1"), ip("10.0.0.1"));
        assert_eq!(
            ip("2001:db8:1:2::1").to_string(),
            "address 2001:db8:1:2::/64"
        );
        assert_eq!(
            Key::account(&"é".repeat(40)),
            Key::Account("é".repeat(32)),
            "cut on a character boundary"
        );
    }

    #[tokio::test]
    async fn the_table_stays_bounded_and_keeps_the_keys_under_attack() {
        let throttle = Throttle::new("tests", 5, Duration::from_secs(60));
        let target = [Key::account("admin")];
        for _ in 0..4 {
            throttle.fail(&target).await;
        }
        for i in 0..(CAPACITY as u32 + 500) {
            throttle
                .fail(&[Key::address(IpAddr::from(i.to_be_bytes()))])
                .await;
        }
        assert_eq!(throttle.table().len(), CAPACITY);
        assert_eq!(throttle.table()[&target[0]].count, 4);
        throttle.fail(&target).await;
        assert!(throttle.check(&target).is_err());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
        assert_eq!(retry_after_secs(Duration::from_secs(900)), 900);
    }
}
