//! The sha256 a bundle upload declares before its body (`Repr-Digest: sha-256=:…:`, RFC 9530).
//!
//! A client that knows the bundle's sha256 up front sends it with `POST /apps`. The server
//! checks the body against it (a corrupted or truncated upload is refused with
//! `upload-failed`), and a server storing bundles in a bucket can store them under their final
//! key while the body still arrives instead of after it. Both ends format and parse the header
//! here. `Content-Digest` means the same for an upload sent without a content coding.
//!
//! ```
//! use q8s_core::api::{declared_sha256, repr_digest};
//! let sha = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
//! let header = repr_digest(sha).unwrap();
//! assert_eq!(header, "sha-256=:uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=:");
//! assert_eq!(declared_sha256(&header).unwrap().as_deref(), Some(sha));
//! // Other algorithms are not ours to check; a malformed sha-256 is an error.
//! assert_eq!(declared_sha256("sha-512=:AAAA:").unwrap(), None);
//! assert!(declared_sha256("sha-256=:not base64:").is_err());
//! ```

use base64::Engine as _;

/// The header a client sends with the bundle's sha256.
pub const REPR_DIGEST_HEADER: &str = "repr-digest";

/// The header meaning the same for a body without content coding.
pub const CONTENT_DIGEST_HEADER: &str = "content-digest";

/// The value of `Repr-Digest` for the lowercase hex `sha256`; `None` when it is not 64 hex
/// digits.
pub fn repr_digest(sha256: &str) -> Option<String> {
    if sha256.len() != 64 {
        return None;
    }
    let bytes = (0..32)
        .map(|i| u8::from_str_radix(&sha256[2 * i..2 * i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    Some(format!("sha-256=:{encoded}:"))
}

/// The lowercase hex sha256 a `Repr-Digest` (or `Content-Digest`) value declares: `None` when
/// it names only other algorithms, an error saying what is wrong when its `sha-256` member is
/// not a byte sequence of 32 bytes.
pub fn declared_sha256(value: &str) -> Result<Option<String>, String> {
    for member in value.split(',') {
        let Some((name, item)) = member.trim().split_once('=') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("sha-256") {
            continue;
        }
        // A structured-field byte sequence, possibly followed by parameters.
        let item = item.trim();
        let inner = item
            .strip_prefix(':')
            .and_then(|rest| rest.split_once(':'))
            .map(|(bytes, _)| bytes)
            .ok_or_else(|| format!("its sha-256 is not a byte sequence (`:base64:`): {item}"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(inner)
            .map_err(|e| format!("its sha-256 is not base64: {e}"))?;
        if bytes.len() != 32 {
            return Err(format!("its sha-256 holds {} bytes, not 32", bytes.len()));
        }
        return Ok(Some(bytes.iter().map(|b| format!("{b:02x}")).collect()));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_finds_sha256_among_other_members() {
        let sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let header = repr_digest(sha).unwrap();
        let mixed = format!("sha-512=:AAAA:, {header};p=1");
        assert_eq!(declared_sha256(&mixed).unwrap().as_deref(), Some(sha));
        assert_eq!(declared_sha256("").unwrap(), None);
        assert_eq!(declared_sha256("unixsum=:AA==:").unwrap(), None);
    }

    #[test]
    fn refuses_what_is_not_32_bytes_of_base64() {
        for bad in [
            "sha-256=abc",
            "sha-256=:AAAA:",
            "sha-256=:!!!:",
            "sha-256=:uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=",
        ] {
            assert!(declared_sha256(bad).is_err(), "{bad}");
        }
        assert_eq!(repr_digest("xyz"), None);
        assert_eq!(repr_digest(&"zz".repeat(32)), None);
    }
}
