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
    use crate::config::plan::{Plan, PublishTarget};
    use clap::Parser as _;

    fn plan(args: &[&str]) -> Result<Plan, LoadError> {
        let mut v = vec!["load", "--transport", "bayeux"];
        v.extend_from_slice(args);
        Plan::new(&LoadOpts::try_parse_from(v).unwrap())
    }

    #[test]
    fn defaults_and_publishers() {
        let p = plan(&["--url", "http://h:8"]).unwrap();
        assert_eq!(p.sub.path_and_query, "/faye");
        let bx = p.bayeux.unwrap();
        assert_eq!(bx.conn, BayeuxTransport::LongPolling);
        assert_eq!(bx.channel.render(3, ""), DEFAULT_CHANNEL);
        assert!(
            matches!(&p.publish, PublishTarget::Bayeux(t) if t.url.as_str() == "http://h:8/faye")
        );
        let p = plan(&[
            "--url",
            "https://h/cometd",
            "--bayeux-transport",
            "websocket",
            "--bayeux-channel",
            "/chat/{id}",
        ])
        .unwrap();
        let bx = p.bayeux.unwrap();
        assert_eq!(bx.conn, BayeuxTransport::Websocket);
        assert_eq!(bx.channel.render(7, ""), "/chat/7");
        assert!(p.sub.tls.is_some());
        // --publish-url makes publishers plain.
        let p = plan(&["--url", "http://h/faye", "--publish-url", "http://h/say"]).unwrap();
        assert!(matches!(&p.publish, PublishTarget::Post(_)));
        let e = plan(&["--url", "ws://h/faye"]).unwrap_err().to_string();
        assert!(e.starts_with("--url \"ws://h/faye\""), "{e}");
        let e = plan(&["--url", "http://h/faye", "--http2"])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--http2: "), "{e}");
    }

    #[test]
    fn channels_follow_the_grammar() {
        assert!(check_channel("/pushpoll").is_ok());
        assert!(check_channel("/chat/room-1/a_b!~()$@").is_ok());
        for bad in [
            "pushpoll",
            "",
            "/",
            "/a//b",
            "/a/",
            "/a/*",
            "/a/**",
            "/a b",
            "/meta/connect",
            "/meta",
            "/é",
        ] {
            assert!(check_channel(bad).is_err(), "{bad}");
        }
        assert!(check_channel("chat")
            .unwrap_err()
            .contains("must start with `/`"));
    }
}
