//! Options of Bayeux runs (`--transport bayeux`): the connection type and
//! the channel, checked before the run. The channel may hold placeholders,
//! so it is checked as every connection would render it.

use crate::config::opts::{BayeuxTransport, LoadOpts, LoadTransport as Transport};
use crate::config::plan::Plan;
use crate::config::template::{Scope, Template, Vars};
use crate::config::users::Users;
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
pub(super) fn bayeux(o: &LoadOpts, users: Option<&Users>) -> Result<Option<BayeuxPlan>, LoadError> {
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
    let scope = Scope {
        marker: false,
        users,
    };
    let channel = Template::parse("bayeux-channel", raw, scope)?;
    // Checked for every connection once the plan is made
    // (`check_bayeux_channels`); connection 0's first, for a clear error
    // without --users.
    check_rendered(&channel, &Vars::first(users))?;
    let conn = o.bayeux_transport.unwrap_or(BayeuxTransport::LongPolling);
    Ok(Some(BayeuxPlan { conn, channel }))
}

/// Whether connection `vars`' channel is one.
fn check_rendered(channel: &Template, vars: &Vars<'_>) -> Result<(), LoadError> {
    check_channel(&channel.render(vars, "")).map_err(|reason| LoadError::InvalidOption {
        option: "bayeux-channel",
        reason: if vars.id == 0 {
            reason
        } else {
            format!("connection {}: {reason}", vars.id)
        },
    })
}

impl Plan {
    /// Every connection's channel, before the run: `{id}` and `{room}`
    /// render digits, but a `--users` value may not fit the grammar.
    pub(super) fn check_bayeux_channels(&self) -> Result<(), LoadError> {
        let Some(bx) = &self.bayeux else {
            return Ok(());
        };
        let subs = (0..self.subscribers).map(|i| self.sub_vars(i));
        let pubs = (0..self.publishers).map(|p| self.pub_vars(p));
        if self.users.is_none() {
            // Digits only: the first of each tells for all.
            return check_rendered(&bx.channel, &self.pub_vars(0));
        }
        for v in subs.chain(pubs) {
            check_rendered(&bx.channel, &v)?;
        }
        Ok(())
    }
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
        let bx = p.bayeux.as_ref().unwrap();
        assert_eq!(bx.conn, BayeuxTransport::LongPolling);
        assert_eq!(bx.channel.render(&p.sub_vars(3), ""), DEFAULT_CHANNEL);
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
        let bx = p.bayeux.as_ref().unwrap();
        assert_eq!(bx.conn, BayeuxTransport::Websocket);
        assert_eq!(bx.channel.render(&p.sub_vars(7), ""), "/chat/7");
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
