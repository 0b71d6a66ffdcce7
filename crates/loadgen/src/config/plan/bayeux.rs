//! Options of Bayeux runs (`--transport bayeux`): the connection type and
//! the channel, checked before the run. The channel may hold placeholders,
//! so it is checked as every connection would render it.

use crate::config::opts::{BayeuxTransport, LoadOpts, LoadTransport as Transport};
use crate::config::template::Template;
use crate::core::error::LoadError;

/// The channel when `--bayeux-channel` is not given.
pub(crate) const DEFAULT_CHANNEL: &str = "/pushpoll";

/// What Bayeux subscribers and publishers need (`--transport bayeux`).
#[derive(Debug, Clone)]
pub(crate) struct BayeuxPlan {
    /// How clients receive (and publishers send).
    pub conn: BayeuxTransport,
    /// The channel, per connection.
    pub channel: Template,
}

/// `--bayeux-transport` and `--bayeux-channel`, checked against the
/// transport.
pub(super) fn bayeux(o: &LoadOpts) -> Result<Option<BayeuxPlan>, LoadError> {
    if o.transport != Transport::Bayeux {
        let given = if o.bayeux_transport.is_some() {
            Some("bayeux-transport")
        } else if o.bayeux_channel.is_some() {
            Some("bayeux-channel")
        } else {
            None
        };
        return match given {
            Some(option) => Err(LoadError::InvalidOption {
                option,
                reason: format!(
                    "only Bayeux clients use it; drop it or use --transport bayeux (got {})",
                    o.transport
                ),
            }),
            None => Ok(None),
        };
    }
    let raw = o.bayeux_channel.as_deref().unwrap_or(DEFAULT_CHANNEL);
    let channel = Template::parse("bayeux-channel", raw, false)?;
    // Placeholders render as digits (or a CSV cell): check the first
    // subscriber's and the first publisher's channel.
    for id in [0, o.subscribers] {
        check_channel(&channel.render(id, "")).map_err(|reason| LoadError::InvalidOption {
            option: "bayeux-channel",
            reason,
        })?;
    }
    let conn = o.bayeux_transport.unwrap_or(BayeuxTransport::LongPolling);
    Ok(Some(BayeuxPlan { conn, channel }))
}

/// Whether `name` is a channel a client may subscribe and publish to: the
/// grammar's channel name (`/` then segments of letters, digits and
/// `-_!~()$@`), no wildcard, and not a `/meta/` channel. Returns why not.
pub(crate) fn check_channel(name: &str) -> Result<(), String> {
    if !name.starts_with('/') {
        return Err(format!(
            "{name:?} must start with `/` (a Bayeux channel such as /chat/room1)"
        ));
    }
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_!~()$@".contains(c))
    };
    if let Some(bad) = name[1..].split('/').find(|s| !segment_ok(s)) {
        return Err(format!(
            "{name:?} has the segment {bad:?}: a segment is one or more letters, digits or -_!~()$@ (no wildcards: publishers send to it too)"
        ));
    }
    if name == "/meta" || name.starts_with("/meta/") {
        return Err(format!(
            "{name:?} is a /meta/ channel, which the protocol itself uses"
        ));
    }
    Ok(())
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_follow_the_grammar() {
        assert!(check_channel("/pushpoll").is_ok());
        assert!(check_channel("/chat/room-1/a_b!~()$@").is_ok());
        for bad in ["pushpoll", "", "/", "/a//b", "/a/", "/a/*", "/a/**", "/a b", "/meta/connect", "/meta", "/é"] {
            assert!(check_channel(bad).is_err(), "{bad}");
        }
        assert!(check_channel("chat").unwrap_err().contains("must start with `/`"));
    }
}
