//! Number formatting: few significant digits, thousands separators, and a
//! dash for "not measured" so a missing figure never looks like a zero.

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Three significant digits, without exponent: `0.00123`, `12.3`, `1,234`.
pub fn sig3(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let mut magnitude = x.abs().log10().floor() as i32;
    // Rounding to three digits can carry into the next power of ten
    // (0.9997 → 1.00, 999.7 → 1,000): count digits of the rounded value.
    let scale = 10f64.powi(2 - magnitude);
    let rounded = (x * scale).round() / scale;
    if rounded != 0.0 {
        magnitude = rounded.abs().log10().floor() as i32;
    }
    if magnitude >= 3 {
        return thousands(x.round() as u64);
    }
    let decimals = (2 - magnitude).max(0) as usize;
    format!("{x:.decimals$}")
}

/// [`sig3`] of an optional figure; `-` when unknown.
pub fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), sig3)
}

/// Microseconds as milliseconds with three significant digits.
pub fn ms(us: u64) -> String {
    sig3(us as f64 / 1000.0)
}

/// A share as a percentage with up to three significant digits.
pub fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "-".into(), |s| format!("{}%", sig3(s * 100.0)))
}

/// `a / b`, or `None` when `b` is zero.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b != 0.0 && a.is_finite() && b.is_finite()).then(|| a / b)
}

/// An axis label: [`sig3`] without trailing zeros (`10`, `0.5`, `1,000`).
pub fn axis(x: f64) -> String {
    let s = sig3(x);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A ratio as `2.12×`; `-` when unknown.
pub fn times(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{}×", sig3(r)))
}

/// A byte count with a decimal (SI) unit and three significant digits:
/// `74.0 B`, `17.6 kB`, `63.3 MB`.
pub fn bytes(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = x;
    let mut unit = 0;
    // Rounding to three digits can carry into the next unit (999.7 B → 1.00 kB).
    while unit + 1 < UNITS.len() && value.abs() >= 999.5 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{} {}", sig3(value), UNITS[unit])
}

/// `a, b and c`.
pub fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// A Unix time as a UTC date and time, `2026-11-25 05:53 UTC`.
pub fn utc(unix_s: u64) -> String {
    let days = (unix_s / 86_400) as i64;
    let secs = unix_s % 86_400;
    // Howard Hinnant's days-to-civil, valid for every date after 1970.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3_600,
        secs % 3_600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(sig3(0.0012345), "0.00123");
        assert_eq!(sig3(12.345), "12.3");
        assert_eq!(sig3(999.4), "999");
        assert_eq!(sig3(12345.6), "12,346");
        assert_eq!(sig3(0.9997), "1.00");
        assert_eq!(sig3(9.996), "10.0");
        assert_eq!(sig3(999.7), "1,000");
        assert_eq!(opt(None), "-");
        assert_eq!(ms(1500), "1.50");
        assert_eq!(percent(Some(0.5)), "50.0%");
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(axis(10.0), "10");
        assert_eq!(axis(0.5), "0.5");
        assert_eq!(axis(1000.0), "1,000");
        assert_eq!(axis(0.0), "0");
        assert_eq!(times(Some(2.1234)), "2.12×");
        assert_eq!(bytes(74.05), "74.0 B");
        assert_eq!(bytes(999.7), "1.00 kB");
        assert_eq!(bytes(63_266_400.0), "63.3 MB");
        assert_eq!(bytes(0.0), "0 B");
        assert_eq!(and_list(&["a".into()]), "a");
        assert_eq!(
            and_list(&["a".into(), "b".into(), "c".into()]),
            "a, b and c"
        );
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        // 2024-02-29 12:34:56 UTC, a leap day.
        assert_eq!(utc(1_709_210_096), "2024-02-29 12:34 UTC");
    }
}
