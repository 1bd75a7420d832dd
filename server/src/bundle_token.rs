//! Download tokens of bundles for instances that run off this host (`--runtime kubernetes`):
//! the pod's init container fetches its bundle from q8s-server with one (see
//! `docs/kubernetes.md`). A token grants exactly one instance's bundle, until it expires or
//! the instance is terminated, and nothing else: it is no API token and signs nobody in.
//!
//! Tokens are signed, not stored: `q8si_<payload>.<mac>`, the payload being the instance id,
//! the expiry (Unix seconds) and the bundle's sha256, the mac an HMAC-SHA256 of it under a key
//! derived from the cluster's relay key (made by the first replica, kept in the store), so
//! every replica makes and accepts the same tokens and a restart keeps them valid. Whether the
//! instance is terminated is asked of the store at each download.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

/// What every instance download token starts with (API tokens start with `q8s_`).
pub const PREFIX: &str = "q8si_";

/// The lifetime of tokens unless configured otherwise (`--bundle-token-lifetime`): a day, so
/// that a pod the cluster makes again on its own (an eviction, a node lost) within a day of
/// the last start still fetches its bundle; a start or resume makes a new token.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Payload: instance id (16 bytes), expiry (8, big-endian Unix seconds), bundle sha256 (32).
const PAYLOAD_LEN: usize = 16 + 8 + 32;

/// Makes and checks instance download tokens.
pub struct BundleTokens {
    key: [u8; 32],
    lifetime: Duration,
}

impl std::fmt::Debug for BundleTokens {
    // Hand-written: the key never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleTokens")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// What a valid token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The instance.
    pub instance_id: Uuid,
    /// The bundle (hex sha256).
    pub bundle_sha256: String,
}

/// Why a token is refused; told to nobody but the server's log (the client gets 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not a token of this kind, or a signature that does not match.
    Invalid,
    /// Signed, but for another instance.
    OtherInstance,
    /// Signed, but past its expiry.
    Expired,
}

impl BundleTokens {
    /// Tokens signed under a key derived from `relay_key`, valid for `lifetime`.
    pub fn new(relay_key: &[u8], lifetime: Duration) -> BundleTokens {
        let mut hasher = Sha256::new();
        hasher.update(b"q8s instance bundle tokens v1\n");
        hasher.update(relay_key);
        BundleTokens {
            key: hasher.finalize().into(),
            lifetime,
        }
    }

    /// A token for `instance_id`'s bundle `bundle_sha256` (hex), valid from `now` for the
    /// lifetime. `None` when the sha256 is not 64 hex digits.
    pub fn mint(
        &self,
        instance_id: Uuid,
        bundle_sha256: &str,
        now: OffsetDateTime,
    ) -> Option<String> {
        let sha = hex_32(bundle_sha256)?;
        let expires = now.unix_timestamp().max(0) as u64 + self.lifetime.as_secs();
        let mut payload = Vec::with_capacity(PAYLOAD_LEN);
        payload.extend_from_slice(instance_id.as_bytes());
        payload.extend_from_slice(&expires.to_be_bytes());
        payload.extend_from_slice(&sha);
        let mac = hmac_sha256(&self.key, &payload);
        Some(format!(
            "{PREFIX}{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(mac)
        ))
    }

    /// What `token` grants when it is valid at `now` for `instance_id`.
    pub fn check(
        &self,
        token: &str,
        instance_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Grant, Refused> {
        let (payload, mac) = token
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('.'))
            .ok_or(Refused::Invalid)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| Refused::Invalid)?;
        let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| Refused::Invalid)?;
        if payload.len() != PAYLOAD_LEN || !same(&mac, &hmac_sha256(&self.key, &payload)) {
            return Err(Refused::Invalid);
        }
        let id = Uuid::from_slice(&payload[..16]).map_err(|_| Refused::Invalid)?;
        let expires = u64::from_be_bytes(payload[16..24].try_into().expect("8 bytes"));
        if id != instance_id {
            return Err(Refused::OtherInstance);
        }
        if (now.unix_timestamp().max(0) as u64) >= expires {
            return Err(Refused::Expired);
        }
        Ok(Grant {
            instance_id: id,
            bundle_sha256: payload[24..].iter().map(|b| format!("{b:02x}")).collect(),
        })
    }
}

/// Gives the running instances placed on this replica a new download token every quarter of
/// the lifetime (at least every 15 s), so that a pod the cluster makes again on its own can
/// always fetch its bundle; until aborted. Only with `--runtime kubernetes`.
pub(crate) async fn refresh_periodically(state: crate::state::AppState, lifetime: Duration) {
    let period = (lifetime / 4).max(Duration::from_secs(15));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tick.tick().await;
        if let Err(e) = refresh(&state).await {
            tracing::warn!(error = %e, "refreshing instances' bundle tokens");
        }
    }
}

async fn refresh(state: &crate::state::AppState) -> anyhow::Result<()> {
    let catalog = &state.store.catalog;
    for instance in catalog.instances_to_run(&state.node.name).await? {
        let Some(app) = catalog.app(instance.app_id).await? else {
            continue;
        };
        // One instance's trouble (its Secret being replaced, a refusal) leaves the others'.
        let refreshed =
            match crate::service::instances::bundle_source(state, &app, instance.id).await {
                Ok(source) => state
                    .runtime
                    .refresh_bundle(instance.id, &source)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.message),
            };
        if let Err(why) = refreshed {
            tracing::warn!(instance = %instance.id, %why, "refreshing a bundle token");
        }
    }
    Ok(())
}

/// 32 bytes from 64 hex digits.
fn hex_32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Equal bytes, compared in a time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// HMAC-SHA256 (RFC 2104) of `message` under a key of at most one block.
fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let pad = |byte: u8| block.map(|k| k ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "ab0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd";

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(seconds).unwrap()
    }

    #[test]
    fn hmac_matches_rfc_4231_case_1() {
        // RFC 4231 test case 1: key 0x0b × 20 (zero-padded to a block, as here), "Hi There".
        let mut key = [0u8; 32];
        key[..20].fill(0x0b);
        let mac = hmac_sha256(&key, b"Hi There");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn a_token_grants_its_instance_until_it_expires_and_nothing_else() {
        let tokens = BundleTokens::new(b"relay key", Duration::from_secs(60));
        let mine = Uuid::new_v4();
        let token = tokens.mint(mine, SHA, at(1_000)).unwrap();
        assert!(token.starts_with(PREFIX));
        let grant = tokens.check(&token, mine, at(1_059)).unwrap();
        assert_eq!(grant.bundle_sha256, SHA);
        assert_eq!(tokens.check(&token, mine, at(1_060)), Err(Refused::Expired));
        assert_eq!(
            tokens.check(&token, Uuid::new_v4(), at(1_001)),
            Err(Refused::OtherInstance)
        );
        // Another cluster's key (another relay key) signs other tokens.
        let other = BundleTokens::new(b"another relay key", Duration::from_secs(60));
        assert_eq!(other.check(&token, mine, at(1_001)), Err(Refused::Invalid));
        assert_eq!(tokens.mint(mine, "not hex", at(0)), None);
    }

    #[test]
    fn tampered_and_foreign_tokens_are_invalid() {
        let tokens = BundleTokens::new(b"relay key", Duration::from_secs(60));
        let id = Uuid::new_v4();
        let token = tokens.mint(id, SHA, at(1_000)).unwrap();
        let (payload, mac) = token.split_once('.').unwrap();
        // A later expiry written into the payload does not match the mac.
        let mut raw = URL_SAFE_NO_PAD.decode(&payload[PREFIX.len()..]).unwrap();
        raw[23] ^= 0xff;
        let longer = format!("{PREFIX}{}.{mac}", URL_SAFE_NO_PAD.encode(&raw));
        for bad in [
            longer.as_str(),
            &token[..token.len() - 1],
            &token.replace('.', ""),
            "q8s_an-api-token",
            "",
            "q8si_.",
            &format!("{payload}.{}", URL_SAFE_NO_PAD.encode([0u8; 32])),
        ] {
            assert_eq!(
                tokens.check(bad, id, at(1_001)),
                Err(Refused::Invalid),
                "{bad}"
            );
        }
    }
}
