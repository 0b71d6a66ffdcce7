//! Reading Prometheus' text exposition format (version 0.0.4): the one
//! reader behind the generator's `--server-metrics-url` and every test that
//! reads a server's `/metrics`, so they all agree on what a line means.
//!
//! A line is blank, a comment (`#` first, `# HELP` and `# TYPE` included:
//! skipped), or a sample: `name[{label="value",...}] value [timestamp]`,
//! with blanks or tabs between tokens. A label value may hold `\\`, `\"` and
//! `\n` escapes, and braces, commas or `=` inside its quotes; a trailing
//! comma in the label set is allowed. A value is a float (`NaN`, `+Inf` and
//! `-Inf` included); a timestamp is an integer of milliseconds.
//!
//! ```
//! use pushpoll_wire::prometheus::{labelled, value};
//! let text = "# TYPE requests_total counter\n\
//!             requests_total{transport=\"ws\"} 12\n\
//!             requests_total{transport=\"sse\"} 3 1700000000000\n";
//! assert_eq!(labelled(text, "requests_total", &[("transport", "sse")]), Some(3.0));
//! assert_eq!(value(text, "requests_total"), Some(12.0));
//! assert_eq!(value(text, "requests"), None);
//! ```

use std::borrow::Cow;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// The metric name, including any `_total` / `_bucket` suffix.
    pub name: &'a str,
    /// The label set as written, between the braces (escapes kept); read it
    /// with [`labels`](Sample::labels).
    labels: &'a str,
    /// The value.
    pub value: f64,
    /// The timestamp, milliseconds since the Unix epoch, when given.
    pub timestamp: Option<i64>,
}

impl<'a> Sample<'a> {
    /// The labels in the order written, values unescaped.
    pub fn labels(&self) -> Labels<'a> {
        Labels { rest: self.labels }
    }

    /// The value of label `name`, if the sample has it.
    pub fn label(&self, name: &str) -> Option<Cow<'a, str>> {
        self.labels().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Whether the sample has every one of `labels` (it may have more),
    /// the way a Prometheus selector matches.
    pub fn matches(&self, labels: &[(&str, &str)]) -> bool {
        labels
            .iter()
            .all(|(name, value)| self.label(name).is_some_and(|v| v == *value))
    }
}

/// The labels of a [`Sample`]: `(name, value)`, values unescaped (borrowed
/// unless they held an escape).
#[derive(Debug, Clone)]
pub struct Labels<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Labels<'a> {
    type Item = (&'a str, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        let (name, value, rest) = pair(self.rest)?;
        let rest = blanks(rest);
        self.rest = rest.strip_prefix(',').unwrap_or(rest);
        Some((name, unescape(value)))
    }
}

/// A line that is neither blank, a comment nor a well-formed sample.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrometheusError {
    /// The line does not start with a metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`),
    /// or the name runs straight into something else.
    #[error("line {line}: a sample must start with a metric name")]
    BadName {
        /// 1-based line number.
        line: usize,
    },
    /// The `{...}` label set is malformed: a bad label name, no quotes, an
    /// unknown escape, or no closing brace.
    #[error("line {line}: malformed label set")]
    BadLabels {
        /// 1-based line number.
        line: usize,
    },
    /// The value is missing or not a number.
    #[error("line {line}: the value is missing or not a number")]
    BadValue {
        /// 1-based line number.
        line: usize,
    },
    /// What follows the value is not an integer of milliseconds.
    #[error("line {line}: the timestamp is not an integer of milliseconds")]
    BadTimestamp {
        /// 1-based line number.
        line: usize,
    },
    /// Something follows the timestamp.
    #[error("line {line}: text after the timestamp")]
    Trailing {
        /// 1-based line number.
        line: usize,
    },
}

/// Every sample of `text`, in order; comments and blank lines are skipped,
/// a malformed line is an `Err` naming it (and the next lines still read).
pub fn samples(text: &str) -> impl Iterator<Item = Result<Sample<'_>, PrometheusError>> + '_ {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| sample(l, i + 1).transpose())
}

/// The value of the first sample named `name`, whatever its labels
/// (malformed lines are skipped).
pub fn value(text: &str, name: &str) -> Option<f64> {
    labelled(text, name, &[])
}

/// The value of the first sample named `name` that has every one of
/// `labels` (malformed lines are skipped).
pub fn labelled(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples(text)
        .filter_map(Result::ok)
        .find(|s| s.name == name && s.matches(labels))
        .map(|s| s.value)
}

/// Reads one line: `None` for a blank line or a comment.
fn sample(line: &str, n: usize) -> Result<Option<Sample<'_>>, PrometheusError> {
    let s = blanks(line);
    if s.is_empty() || s.starts_with('#') {
        return Ok(None);
    }
    let len = name_len(s, true);
    if len == 0 {
        return Err(PrometheusError::BadName { line: n });
    }
    let (name, after) = s.split_at(len);
    let rest = blanks(after);
    let (labels, rest) = match rest.strip_prefix('{') {
        Some(set) => {
            let (labels, rest) = label_set(set).ok_or(PrometheusError::BadLabels { line: n })?;
            (labels, blanks(rest))
        }
        // The name must end at a blank: `up1` is not `up` then `1`.
        None if rest.len() == after.len() => return Err(PrometheusError::BadName { line: n }),
        None => ("", rest),
    };
    let (value, rest) = token(rest);
    let value = value
        .parse::<f64>()
        .map_err(|_| PrometheusError::BadValue { line: n })?;
    let (timestamp, rest) = token(rest);
    let timestamp = match timestamp {
        "" => None,
        t => Some(
            t.parse::<i64>()
                .map_err(|_| PrometheusError::BadTimestamp { line: n })?,
        ),
    };
    if !rest.is_empty() {
        return Err(PrometheusError::Trailing { line: n });
    }
    Ok(Some(Sample {
        name,
        labels,
        value,
        timestamp,
    }))
}

/// `s` without its leading blanks and tabs.
fn blanks(s: &str) -> &str {
    s.trim_start_matches([' ', '\t'])
}

/// The next blank-separated token of `s` (after blanks), and what follows
/// it (blanks skipped).
fn token(s: &str) -> (&str, &str) {
    let s = blanks(s);
    let end = s.find([' ', '\t']).unwrap_or(s.len());
    (&s[..end], blanks(&s[end..]))
}

/// Length of the metric name (`metric`: colons allowed) or label name at
/// the start of `s`; 0 if there is none.
fn name_len(s: &str, metric: bool) -> usize {
    let ok = |i: usize, c: u8| {
        c.is_ascii_alphabetic()
            || c == b'_'
            || (metric && c == b':')
            || (i > 0 && c.is_ascii_digit())
    };
    s.bytes().enumerate().take_while(|&(i, c)| ok(i, c)).count()
}

/// The label set after its `{`: the text up to the closing `}`, and what
/// follows that brace. `None` if it is malformed.
fn label_set(set: &str) -> Option<(&str, &str)> {
    let mut cur = set;
    loop {
        let t = blanks(cur);
        if let Some(rest) = t.strip_prefix('}') {
            return Some((&set[..set.len() - t.len()], rest));
        }
        let (_, _, after) = pair(t)?;
        let after = blanks(after);
        cur = match after.strip_prefix(',') {
            Some(next) => next,
            None if after.starts_with('}') => after,
            None => return None,
        };
    }
}

/// One `name="value"` at the start of `s` (after blanks): the name, the
/// value as written (escapes kept) and what follows its closing quote.
fn pair(s: &str) -> Option<(&str, &str, &str)> {
    let s = blanks(s);
    let len = name_len(s, false);
    if len == 0 {
        return None;
    }
    let (name, s) = s.split_at(len);
    let s = blanks(blanks(s).strip_prefix('=')?).strip_prefix('"')?;
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        match *b.get(i)? {
            b'"' => return Some((name, &s[..i], &s[i + 1..])),
            b'\\' if matches!(b.get(i + 1), Some(b'\\' | b'"' | b'n')) => i += 2,
            b'\\' => return None,
            _ => i += 1,
        }
    }
}

/// A label value with its escapes (`\\`, `\"`, `\n`) resolved.
fn unescape(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Sample<'_> {
        sample(line, 1).unwrap().unwrap()
    }

    fn labels_of<'a>(s: &Sample<'a>) -> Vec<(&'a str, String)> {
        s.labels().map(|(n, v)| (n, v.into_owned())).collect()
    }

    #[test]
    fn reads_process_cpu_seconds() {
        let text =
            "# HELP process_cpu_seconds_total CPU\n# TYPE process_cpu_seconds_total counter\n\
                    process_cpu_seconds_total_other 9\nprocess_cpu_seconds_total 12.5\n";
        assert_eq!(value(text, "process_cpu_seconds_total"), Some(12.5));
        assert_eq!(
            value(
                "process_cpu_seconds_total{a=\"b\"} 3 1700000000\n",
                "process_cpu_seconds_total"
            ),
            Some(3.0)
        );
        assert_eq!(value("up 1\n", "process_cpu_seconds_total"), None);
    }

    #[test]
    fn labels_with_escapes_and_separators_inside_quotes() {
        let s = one(r#"m{a="x\"}, y",b="back\\slash\nline" , c = "" ,} -Inf 17"#);
        assert_eq!(s.name, "m");
        assert_eq!(
            labels_of(&s),
            [
                ("a", "x\"}, y".to_owned()),
                ("b", "back\\slash\nline".to_owned()),
                ("c", String::new()),
            ]
        );
        assert_eq!(s.value, f64::NEG_INFINITY);
        assert_eq!(s.timestamp, Some(17));
        assert!(s.matches(&[("c", ""), ("a", "x\"}, y")]));
        assert!(!s.matches(&[("d", "")]));
        assert!(matches!(s.label("a"), Some(Cow::Owned(_))));
        assert!(matches!(
            one("m{a=\"b\"} 1").label("a"),
            Some(Cow::Borrowed("b"))
        ));
    }

    #[test]
    fn the_name_ends_at_a_blank_or_a_brace() {
        assert_eq!(sample("up1", 3), Err(PrometheusError::BadName { line: 3 }));
        assert_eq!(
            sample("up-x 1", 1),
            Err(PrometheusError::BadName { line: 1 })
        );
        assert_eq!(one("a:b_c9 {} 2").name, "a:b_c9");
        assert_eq!(one("up\t\t1").value, 1.0);
    }
}
