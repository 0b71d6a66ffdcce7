//! The human summary of one `pushpoll load` run: the compare table with one
//! column, errors by kind, and what went wrong in words.

use crate::{compare, fmt, RunResult};

/// A few lines a person reads after a run.
pub fn render(r: &RunResult) -> String {
    let mut out = format!("{} against {}\n", r.transport, r.url);
    out.push_str(&compare::render(std::slice::from_ref(r)));
    out.push_str(&format!(
        "published {} ({} failed), {} of {} subscribers connected, active {}s\n",
        fmt::thousands(r.published),
        fmt::thousands(r.publish_errors),
        fmt::thousands(r.subscribers_connected),
        fmt::thousands(r.subscribers),
        fmt::sig3(r.active_s),
    ));
    if r.unsent > 0 {
        out.push_str(&format!(
            "{} of {} planned deliveries never had a chance: the server refused or never got {} publishes (see publish_* errors)\n",
            fmt::thousands(r.unsent),
            fmt::thousands(r.planned()),
            fmt::thousands(r.publish_errors),
        ));
    }
    if r.unexpected > 0 {
        out.push_str(&format!(
            "{} deliveries of messages whose publish was not acknowledged\n",
            fmt::thousands(r.unexpected)
        ));
    }
    if r.unmarked_frames > 0 {
        out.push_str(&format!(
            "{} frames without a pushpoll marker (the server's own messages or rewritten payloads), not counted as deliveries\n",
            fmt::thousands(r.unmarked_frames)
        ));
    }
    if let Some(hint) = no_marker_hint(r) {
        out.push_str(&hint);
        out.push('\n');
    }
    if r.other_run_markers > 0 {
        out.push_str(&format!(
            "{} arrivals of other runs' messages (other load agents), left out of every figure above\n",
            fmt::thousands(r.other_run_markers)
        ));
    }
    if !r.errors.is_empty() {
        let kinds: Vec<String> = r
            .errors
            .iter()
            .map(|(k, n)| format!("{k} {}", fmt::thousands(*n)))
            .collect();
        out.push_str(&format!("errors: {}\n", kinds.join(", ")));
    }
    out
}

/// One line for a run that delivered nothing although its subscribers
/// received frames: the server talks, but not in pushpoll's messages.
pub fn no_marker_hint(r: &RunResult) -> Option<String> {
    (r.delivered == 0 && r.published > 0 && r.unmarked_frames > 0).then(|| {
        format!(
            "hint: {} frames arrived but none carried this run's marker, so nothing counts as delivered. \
             pushpoll recognises a message only when the server relays the payload it was sent, marker \
             intact: does this server need a join or subscribe step first (--on-connect send:TEXT, \
             expect:TEXT) or a message format of its own (--publish-template with {{marker}} where the \
             text goes)? Look at what it sends (`websocat`, the browser's network tab).",
            fmt::thousands(r.unmarked_frames)
        )
    })
}
