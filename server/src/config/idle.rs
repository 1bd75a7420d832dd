//! `--idle-suspend`: how long an instance may go unused before it is put to sleep.

use serde::Deserialize;

/// `--idle-suspend`: a duration ([`q8s_core::duration`]), `0` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleSuspend(pub Option<std::time::Duration>);

impl std::str::FromStr for IdleSuspend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("off") {
            return Ok(IdleSuspend(None));
        }
        let duration =
            q8s_core::duration::parse(s.trim()).map_err(|why| format!("`{s}` {why}, or off"))?;
        Ok(IdleSuspend(Some(duration).filter(|d| !d.is_zero())))
    }
}

impl<'de> Deserialize<'de> for IdleSuspend {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Seconds(n) => Ok(IdleSuspend(
                Some(std::time::Duration::from_secs(n)).filter(|d| !d.is_zero()),
            )),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn idle_suspend_is_a_duration_or_off() {
        let parse = |s: &str| s.parse::<IdleSuspend>();
        assert_eq!(
            parse("30m"),
            Ok(IdleSuspend(Some(Duration::from_secs(1800))))
        );
        assert_eq!(parse("2s"), Ok(IdleSuspend(Some(Duration::from_secs(2)))));
        assert_eq!(parse("90"), Ok(IdleSuspend(Some(Duration::from_secs(90)))));
        assert_eq!(parse("off"), Ok(IdleSuspend(None)));
        assert_eq!(parse("0"), Ok(IdleSuspend(None)));
        let err = parse("30 min").unwrap_err();
        assert!(err.contains("`30 min`") && err.contains("unit"), "{err}");
        let file: crate::config::Settings = toml::from_str("idle-suspend = \"1h\"").unwrap();
        assert_eq!(
            file.idle_suspend,
            Some(IdleSuspend(Some(Duration::from_secs(3600))))
        );
        let file: crate::config::Settings = toml::from_str("idle-suspend = 60").unwrap();
        assert_eq!(
            file.idle_suspend,
            Some(IdleSuspend(Some(Duration::from_secs(60))))
        );
        assert!(toml::from_str::<crate::config::Settings>("idle-suspend = \"soon\"").is_err());
    }
}
