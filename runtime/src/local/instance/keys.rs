//! The Wave access key an instance's app and its Qd share, and Qd's keychain holding it.
//!
//! Qd checks the key on every request the app sends it (each `page.save()` is one) against a
//! bcrypt hash. Given the secret itself (`H2O_WAVE_ACCESS_KEY_SECRET`), Qd hashes it at
//! bcrypt's default cost (10) as it starts, and every check costs as much again: tens of
//! milliseconds of CPU per start and per app request (seen in `perf` as most of Qd's time).
//! The cost factor slows the guessing of passwords people choose; this secret is 122 random
//! bits, which no guessing reaches at any cost. So Qd gets a keychain
//! (`H2O_WAVE_ACCESS_KEYCHAIN`) holding the secret's hash at bcrypt's lowest cost, 64 times
//! cheaper to check, and never sees the secret.

/// bcrypt's lowest cost (2⁴ rounds of its key setup).
const COST: u32 = 4;

/// Where Qd reads its keychain inside its sandbox.
pub(super) const KEYCHAIN_PATH: &str = "/etc/wave-keychain";

/// One instance's access key: the app sends it, Qd checks it.
#[derive(Clone)]
pub(super) struct AccessKey {
    pub(super) id: String,
    pub(super) secret: String,
}

impl AccessKey {
    /// A new random key (ids and secrets of 32 hex digits).
    pub(super) fn new() -> Self {
        AccessKey {
            id: uuid::Uuid::new_v4().simple().to_string(),
            secret: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// Qd's keychain file holding this key: `<id>:<bcrypt hash of the secret>`.
    pub(super) fn keychain(&self) -> Result<String, String> {
        let hash = bcrypt::hash_with_result(&self.secret, COST)
            .map_err(|e| format!("hashing the Wave access key: {e}"))?
            .format_for_version(bcrypt::Version::TwoA);
        Ok(format!("{}:{hash}\n", self.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keychain_holds_a_cheap_hash_of_the_secret_and_not_the_secret() {
        let key = AccessKey::new();
        let keychain = key.keychain().unwrap();
        let (id, hash) = keychain.trim_end().split_once(':').unwrap();
        assert_eq!(id, key.id);
        assert!(hash.starts_with("$2a$04$"), "{hash}");
        assert!(!keychain.contains(&key.secret));
        assert!(bcrypt::verify(&key.secret, hash).unwrap());
        assert!(!bcrypt::verify(AccessKey::new().secret, hash).unwrap());
        assert_ne!(AccessKey::new().keychain().unwrap(), keychain);
    }
}
