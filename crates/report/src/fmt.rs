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
    let magnitude = x.abs().log10().floor() as i32;
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
        assert_eq!(opt(None), "-");
        assert_eq!(ms(1500), "1.50");
        assert_eq!(percent(Some(0.5)), "50.0%");
        assert_eq!(ratio(1.0, 0.0), None);
    }
}
