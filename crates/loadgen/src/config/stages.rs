//! k6-style stages, `DUR:TARGET,…` (`--rate-stages`): each stage moves
//! linearly from the previous target (0 before the first) to its own over
//! its duration. Durations take `ms`, `s`, `m` or `h` (bare numbers are
//! seconds), as k6 writes them (`30s`, `2m`).

use crate::core::error::LoadError;

/// One stage: seconds and the target at its end.
pub(crate) use crate::core::schedule::Stage;

/// Longest a whole stage list may run, seconds (a week, as `--duration`).
const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// Parses `DUR:TARGET,…`; every problem names `option`.
pub(crate) fn parse(option: &'static str, text: &str) -> Result<Vec<Stage>, LoadError> {
    let bad = |reason: String| LoadError::InvalidOption { option, reason };
    let mut stages = Vec::new();
    for (i, part) in text.split(',').enumerate() {
        let part = part.trim();
        let n = i + 1;
        let (dur, target) = part.split_once(':').ok_or_else(|| {
            bad(format!(
                "stage {n} `{part}` is not DUR:TARGET (e.g. `30s:100,1m:100,30s:0`)"
            ))
        })?;
        let secs = duration(dur.trim()).ok_or_else(|| {
            bad(format!(
                "stage {n}: `{dur}` is not a duration (e.g. 500ms, 30s, 2m, 1h)"
            ))
        })?;
        if secs <= 0.0 {
            return Err(bad(format!(
                "stage {n} lasts zero time: every stage needs a duration > 0"
            )));
        }
        let target: f64 = target
            .trim()
            .parse()
            .map_err(|_| bad(format!("stage {n}: target `{target}` is not a number")))?;
        if !target.is_finite() || target < 0.0 {
            return Err(bad(format!(
                "stage {n}: target must be a finite number >= 0, got {target}"
            )));
        }
        stages.push((secs, target));
    }
    let total: f64 = stages.iter().map(|s| s.0).sum();
    if total > MAX_SECONDS {
        return Err(bad(format!(
            "the stages last {total} s; at most {MAX_SECONDS} s"
        )));
    }
    Ok(stages)
}

/// `30s`, `1.5m`, `500ms`, `2h` or bare seconds.
fn duration(s: &str) -> Option<f64> {
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    let v: f64 = num.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k6_stages() {
        let s = parse("rate-stages", "30s:100, 1m:100,500ms:0,2:5,1h:1").unwrap();
        assert_eq!(
            s,
            [
                (30.0, 100.0),
                (60.0, 100.0),
                (0.5, 0.0),
                (2.0, 5.0),
                (3600.0, 1.0)
            ]
        );
        use crate::core::schedule::stage_at;
        assert_eq!(stage_at(&s, 29.0), Some(0));
        assert_eq!(stage_at(&s, 90.2), Some(2));
        assert_eq!(stage_at(&s, 1e9), None);
    }

    #[test]
    fn bad_stages_name_the_option_and_the_stage() {
        for (text, words) in [
            ("30s", "stage 1 `30s` is not DUR:TARGET"),
            ("10s:5,,", "stage 2"),
            ("10x:5", "not a duration"),
            ("10s:5,0s:3", "stage 2 lasts zero time"),
            ("10s:-1", "finite number >= 0"),
            ("10s:abc", "not a number"),
            ("-5s:1", "not a duration"),
            ("10s:inf", "finite number >= 0"),
            ("200h:1", "at most"),
        ] {
            let e = parse("subscriber-stages", text).unwrap_err().to_string();
            assert!(
                e.contains("subscriber-stages") && e.contains(words),
                "{text}: {e}"
            );
        }
    }
}
