//! The `h2o-wave` releases that do not start with today's dependencies
//! unless q8s bounds them, and how to tell whether a requirement keeps an
//! app on one of them.
//!
//! Found by installing each release in a fresh virtualenv with uv (which
//! picks the newest dependencies) and starting a three-line app with
//! `python -m h2o_wave run --no-reload --no-autostart app` (December 2026,
//! Starlette 1.10.0): 0.26.4, 1.0.0, 1.7.8, 1.8.0, 1.8.4 and 1.8.5 fail with
//! `TypeError: Router.__init__() got an unexpected keyword argument
//! 'on_startup'`; 1.8.6 to 1.8.8 declare `starlette<1` themselves; 1.8.9 and
//! later start on Starlette 1.x.

use super::pep440::{self, Version};
use super::pep508::Specifier;
use crate::constraints::{Constraints, normalize};

/// A range of `h2o-wave` releases that needs an upper bound on a
/// dependency to start: a rule of [`Constraints::builtin`] whose `when` is
/// `h2o-wave < X`.
#[derive(Debug)]
pub(crate) struct WaveConstraint {
    /// The first release that does not need it; every earlier one does.
    pub below: &'static str,
    /// The bounds q8s applies, as requirement lines.
    pub bound: String,
    /// Why, in one sentence.
    pub why: &'static str,
}

/// The constraint of the newest range that holds every version the
/// specifiers allow, if any (`==0.26.4`, `<1.0`, `~=1.7.0`, `==1.8.*` is
/// not held: it allows 1.8.16).
pub(crate) fn constraint_for(specifiers: &[Specifier]) -> Option<WaveConstraint> {
    let wave = normalize("h2o-wave");
    Constraints::builtin()
        .rules
        .iter()
        .rev()
        .filter_map(|rule| {
            let range = rule.when.as_ref().filter(|r| r.package == wave)?;
            Some((range.below()?, rule))
        })
        .find(|(below, _)| {
            let bound = pep440::parse(below, false).expect("a valid version in the rules");
            specifiers.iter().any(|s| allows_only_below(s, &bound))
        })
        .map(|(below, rule)| WaveConstraint {
            below,
            bound: rule.pins.join(", "),
            why: &rule.why,
        })
}

/// True when every version `s` allows is below `bound`.
fn allows_only_below(s: &Specifier, bound: &Version) -> bool {
    use std::cmp::Ordering::*;
    let Some(v) = &s.version else {
        return false;
    };
    match s.op {
        "==" if s.wildcard => {
            // `==1.7.*`: every version starting with 1.7.
            let prefix = &v.release;
            let bound_prefix: Vec<u64> = (0..prefix.len())
                .map(|i| bound.release.get(i).copied().unwrap_or(0))
                .collect();
            v.epoch < bound.epoch || (v.epoch == bound.epoch && prefix < &bound_prefix)
        }
        "==" | "===" | "<=" => v.cmp_release(bound) == Less,
        "<" => v.cmp_release(bound) != Greater,
        "~=" => {
            // `~=1.7.2` is `>=1.7.2, ==1.7.*`: below 1.8.
            let mut upper = v.release[..v.release.len() - 1].to_vec();
            if let Some(last) = upper.last_mut() {
                *last += 1;
            }
            let upper = Version {
                epoch: v.epoch,
                release: upper,
                prerelease: false,
                local: false,
            };
            upper.cmp_release(bound) != Greater
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::pep508;
    use super::*;

    fn constrained(spec: &str) -> bool {
        let text = format!("h2o-wave{spec}");
        let r = pep508::parse(&text).unwrap();
        constraint_for(&r.specifiers).is_some()
    }

    #[test]
    fn old_pins_are_constrained() {
        for spec in [
            "==0.26.4",
            "==1.0.0",
            "==1.7.8",
            "==1.8.5",
            "===1.8.5",
            "<=1.8.5",
            "<1.8.6",
            "<1.0",
            ">=0.20,<0.27",
            "~=0.26.0",
            "~=1.7.0",
            "~=0.26",
            "==1.7.*",
            "==0.*",
            "==1.8.6rc1",
        ] {
            assert!(constrained(spec), "{spec}");
        }
    }

    #[test]
    fn open_or_recent_pins_are_not() {
        for spec in [
            "",
            "==1.8.6",
            "==1.8.16",
            ">=0.26",
            "<=1.8.6",
            "<1.8.7",
            "~=1.8.5",
            "==1.8.*",
            "==1.*",
            "~=1.7",
            "!=1.0.0",
            ">1.0",
            "===latest",
        ] {
            assert!(!constrained(spec), "{spec}");
        }
    }
}
