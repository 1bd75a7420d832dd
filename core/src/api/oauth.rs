//! The PKCE verifier, challenge and state of the loopback authorization-code flow (RFC 8252,
//! RFC 7636); the rules both ends share are in `pkce.rs`. The flows themselves are the
//! client's (`q8s-client`).

use base64::Engine as _;

use super::pkce::pkce_challenge;

/// A PKCE verifier with its S256 challenge, and a `state` value to match the redirect with.
#[derive(Clone)]
pub struct Pkce {
    /// The secret sent with the code exchange (43 URL-safe characters).
    pub verifier: String,
    /// `BASE64URL(SHA256(verifier))`, sent with the authorization request.
    pub challenge: String,
    /// The random `state` the redirect must carry back.
    pub state: String,
}

impl std::fmt::Debug for Pkce {
    // The verifier is a secret until it is used.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("challenge", &self.challenge)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Pkce {
    /// A verifier and state from 48 random bytes (32 for the verifier, 16 for the state).
    ///
    /// ```
    /// let pkce = q8s_core::api::Pkce::from_random([7; 48]);
    /// assert_eq!(pkce.verifier.len(), 43);
    /// assert_eq!(pkce.challenge, q8s_core::api::pkce_challenge(&pkce.verifier));
    /// ```
    pub fn from_random(random: [u8; 48]) -> Pkce {
        let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let verifier = encode(&random[..32]);
        Pkce {
            challenge: pkce_challenge(&verifier),
            verifier,
            state: encode(&random[32..]),
        }
    }

    /// A fresh verifier and state from the operating system's random source.
    #[cfg(not(target_family = "wasm"))]
    pub fn new() -> Result<Pkce, super::ApiError> {
        let mut random = [0u8; 48];
        getrandom::fill(&mut random).map_err(|e| super::ApiError::Io {
            context: "reading random bytes for the sign-in".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(Pkce::from_random(random))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(target_family = "wasm"))]
    #[test]
    fn fresh_verifiers_differ_and_are_valid_pkce_text() {
        let (a, b) = (Pkce::new().unwrap(), Pkce::new().unwrap());
        assert_ne!(a.verifier, b.verifier);
        assert!(
            a.verifier
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(a.state.len(), 22);
    }
}
