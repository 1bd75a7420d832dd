//! The rules both ends of the loopback sign-in share (RFC 7636): the one OAuth client id, what
//! a PKCE verifier or challenge may be, and the S256 transform. The server checks requests
//! with them and the clients build requests with them, so the two cannot drift apart.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The OAuth client id of every q8s client that signs in like the CLI: the only client the
/// server knows.
pub const CLIENT_ID: &str = "q8s-cli";

/// The PKCE S256 challenge of a verifier: `BASE64URL(SHA256(verifier))`.
///
/// ```
/// // RFC 7636, appendix B
/// assert_eq!(
///     q8s_core::api::pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
///     "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
/// );
/// ```
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `text` may be a PKCE verifier or challenge: 43 to 128 characters of `A-Z a-z 0-9
/// - . _ ~` (RFC 7636 §4.1, §4.2).
///
/// ```
/// use q8s_core::api::is_pkce_text;
/// assert!(is_pkce_text(&"a".repeat(43)) && !is_pkce_text(&"a".repeat(42)));
/// ```
pub fn is_pkce_text(text: &str) -> bool {
    (43..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_text_is_43_to_128_unreserved_characters() {
        let cases = [
            ("a".repeat(42), false),
            ("a".repeat(43), true),
            ("a".repeat(128), true),
            ("a".repeat(129), false),
            (format!("{}-._~", "Z9".repeat(20)), true),
            (format!("{}+", "a".repeat(43)), false),
            (format!("{}=", "a".repeat(43)), false),
            (format!("{} ", "a".repeat(43)), false),
            (format!("{}é", "a".repeat(43)), false),
        ];
        for (text, valid) in cases {
            assert_eq!(is_pkce_text(&text), valid, "{text:?}");
        }
        // Every challenge the S256 transform gives is itself valid text.
        assert!(is_pkce_text(&pkce_challenge("x")));
    }
}
