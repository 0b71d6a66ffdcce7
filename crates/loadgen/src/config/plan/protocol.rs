//! Options that only some transports or patterns speak: WebSocket
//! subprotocols and compression, echo, Socket.IO and HTTP/2.

use crate::config::opts::{LoadOpts, LoadTransport as Transport, Pattern, SocketIoTransport};
use crate::core::error::LoadError;

use http::HeaderValue;

use super::{PublishTarget, SocketIoPlan};
use crate::config::template::{Scope, Step, Template, Vars};
use crate::config::users::Users;

/// WebSocket-only options given with another transport.
pub(super) fn ws_options(o: &LoadOpts) -> Result<(), LoadError> {
    if o.ws_subprotocol.is_some() && o.transport != Transport::Ws {
        return Err(LoadError::InvalidOption {
            option: "ws-subprotocol",
            reason: format!(
                "only WebSocket subscribers speak a subprotocol; drop it or use --transport ws (got {})",
                o.transport
            ),
        });
    }
    if o.ws_deflate && o.transport != Transport::Ws {
        return Err(LoadError::InvalidOption {
            option: "ws-deflate",
            reason: format!(
                "only WebSocket subscribers offer permessage-deflate; drop it or use --transport ws (got {})",
                o.transport
            ),
        });
    }

    Ok(())
}

/// Subprotocols, the echo pattern and Socket.IO settings, checked against
/// the transport.
pub(super) fn pattern_and_socketio(
    o: &LoadOpts,
    users: Option<&Users>,
) -> Result<Option<SocketIoPlan>, LoadError> {
    if !o.subprotocols.is_empty() {
        if o.transport != Transport::Ws {
            return Err(LoadError::InvalidOption {
                option: "subprotocol",
                reason: format!(
                    "only WebSocket subscribers ask for a subprotocol; drop it or use --transport ws (got {})",
                    o.transport
                ),
            });
        }
        if o.ws_subprotocol.is_some() {
            return Err(LoadError::InvalidOption {
                option: "subprotocol",
                reason: "--ws-subprotocol already chooses the subprotocol (and how frames are read); use one or the other".into(),
            });
        }
    }
    if o.pattern == Pattern::Echo {
        let reason = if o.transport != Transport::Ws {
            Some(format!(
                "echo needs WebSocket subscribers, which send on their own connection (got --transport {})",
                o.transport
            ))
        } else if o.publish_url.is_some() {
            Some(
                "with echo every subscriber publishes on its own connection; drop --publish-url"
                    .into(),
            )
        } else if o.publishers.is_some_and(|p| p != 1) || o.rooms.is_some() {
            Some(
                "with echo every subscriber is its own publisher; drop --publishers and --rooms"
                    .into(),
            )
        } else if o.ws_subprotocol.is_some() {
            Some("pushpoll.v1 is a broadcast protocol; drop --ws-subprotocol".into())
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(LoadError::InvalidOption {
                option: "pattern",
                reason,
            });
        }
    }

    let socketio = if o.transport == Transport::SocketIo {
        let event = o
            .socketio_event
            .clone()
            .unwrap_or_else(|| "chat message".into());
        if event.is_empty() || event.len() > 256 {
            return Err(LoadError::InvalidOption {
                option: "socketio-event",
                reason: format!("must be 1 to 256 bytes, got {}", event.len()),
            });
        }
        let namespace = o.socketio_namespace.clone().unwrap_or_else(|| "/".into());
        if !namespace.starts_with('/')
            || namespace.len() > 256
            || namespace.contains([',', '"', '\\'])
            || namespace.chars().any(char::is_control)
        {
            return Err(LoadError::InvalidOption {
                option: "socketio-namespace",
                reason: format!(
                    "a namespace starts with / and has no comma, quote or control character (e.g. /chat), got {namespace:?}"
                ),
            });
        }
        let auth = match &o.socketio_auth {
            None => None,
            Some(raw) => {
                let scope = Scope {
                    marker: false,
                    users,
                };
                let t = Template::parse("socketio-auth", raw, scope)?;
                let first = t.render(&Vars::first(users), "");
                if !serde_json::from_str::<serde_json::Value>(&first).is_ok_and(|v| v.is_object()) {
                    return Err(LoadError::InvalidOption {
                        option: "socketio-auth",
                        reason: format!(
                            "must be a JSON object, e.g. '{{\"token\":\"{{user.token}}\"}}'; connection 0's is {first:?}"
                        ),
                    });
                }
                Some(t)
            }
        };
        Some(SocketIoPlan {
            mode: o.socketio_transport.unwrap_or(SocketIoTransport::Upgrade),
            event,
            namespace,
            auth,
        })
    } else {
        let given = if o.socketio_transport.is_some() {
            Some("socketio-transport")
        } else if o.socketio_event.is_some() {
            Some("socketio-event")
        } else if o.socketio_namespace.is_some() {
            Some("socketio-namespace")
        } else if o.socketio_auth.is_some() {
            Some("socketio-auth")
        } else {
            None
        };
        if let Some(option) = given {
            return Err(LoadError::InvalidOption {
                option,
                reason: format!(
                    "only Socket.IO subscribers use it; drop it or use --transport socket.io (got {})",
                    o.transport
                ),
            });
        }
        None
    };

    Ok(socketio)
}

/// Most subscribers one HTTP/2 connection may carry as streams.
pub const MAX_H2_STREAMS: usize = 10_000;

/// `--http2` and `--h2-streams-per-connection`: streams per connection, or
/// `None` for HTTP/1.1.
pub(super) fn http2_streams(o: &LoadOpts) -> Result<Option<usize>, LoadError> {
    if !o.http2 {
        return Ok(None);
    }
    if matches!(
        o.transport,
        Transport::Ws | Transport::SocketIo | Transport::SockJs
    ) {
        return Err(LoadError::InvalidOption {
            option: "http2",
            reason: format!(
                "HTTP/2 carries polls and SSE only (long-poll, short-poll, sse); {} needs HTTP/1.1 (WebSocket over HTTP/2, RFC 8441, is not spoken)",
                o.transport
            ),
        });
    }
    let n = o.h2_streams_per_connection;
    if n == 0 || n > MAX_H2_STREAMS {
        return Err(LoadError::InvalidOption {
            option: "h2-streams-per-connection",
            reason: format!("must be between 1 and {MAX_H2_STREAMS}, got {n}"),
        });
    }
    Ok(Some(n))
}

/// What connections say beyond pushpoll's own protocol: `--on-connect`
/// steps, the `--publish-template` around each payload, and the `POST`
/// body's content type, checked against the connections the run has.
pub(super) struct Speech {
    pub steps: Vec<Step>,
    pub template: Option<Template>,
    pub content_type: HeaderValue,
}

pub(super) fn speech(
    o: &LoadOpts,
    publish: &PublishTarget,
    users: Option<&Users>,
) -> Result<Speech, LoadError> {
    let ws_publishers = matches!(publish, PublishTarget::Ws(_) | PublishTarget::SockJs(_));
    let steps = o
        .on_connect
        .iter()
        .map(|raw| Step::parse(raw, users))
        .collect::<Result<Vec<_>, _>>()?;
    if !steps.is_empty() {
        if o.transport == Transport::SocketIo {
            // Each `send:` is an event array, emitted once connected.
            for step in &steps {
                if let Step::Send(t) = step {
                    event_array("on-connect", t, users, "")?;
                }
            }
        } else if !matches!(o.transport, Transport::Ws | Transport::SockJs) && !ws_publishers {
            return Err(LoadError::InvalidOption {
                option: "on-connect",
                reason: format!(
                    "only WebSocket and SockJS connections run --on-connect steps, and this run has none (--transport {}, publishers POST); use --transport ws or a ws:// --publish-url",
                    o.transport
                ),
            });
        }
        if o.ws_subprotocol.is_some() {
            return Err(LoadError::InvalidOption {
                option: "on-connect",
                reason:
                    "pushpoll.v1 connections need no steps; drop --ws-subprotocol or --on-connect"
                        .into(),
            });
        }
    }
    let template = match &o.publish_template {
        None => None,
        Some(raw) => {
            let scope = Scope {
                marker: true,
                users,
            };
            let t = Template::parse("publish-template", raw, scope)?;
            if !t.has_marker() {
                return Err(LoadError::InvalidOption {
                    option: "publish-template",
                    reason: format!(
                        "{raw:?} has no {{marker}}: the generator could not recognise its messages; put {{marker}} where the text goes"
                    ),
                });
            }
            if matches!(publish, PublishTarget::SocketIo(_)) {
                event_array("publish-template", &t, users, "~pp1.0.0.0.0~")?;
            }
            Some(t)
        }
    };
    let content_type = match &o.publish_content_type {
        None => HeaderValue::from_static("text/plain"),
        Some(_) if !matches!(publish, PublishTarget::Post(_)) => {
            return Err(LoadError::InvalidOption {
                option: "publish-content-type",
                reason:
                    "only POST publishers send a Content-Type; this run's publishers send frames"
                        .into(),
            })
        }
        Some(v) => HeaderValue::from_str(v).map_err(|_| LoadError::InvalidOption {
            option: "publish-content-type",
            reason: format!("{v:?} cannot be a header value"),
        })?,
    };
    Ok(Speech {
        steps,
        template,
        content_type,
    })
}

/// A Socket.IO `--on-connect send:` step or `--publish-template` must be an
/// event array, `["name", ...]`: checked on connection 0's text (with
/// `marker` in place of a message).
fn event_array(
    option: &'static str,
    t: &Template,
    users: Option<&Users>,
    marker: &str,
) -> Result<(), LoadError> {
    let text = t.render(&Vars::first(users), marker);
    let ok = serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|v| {
        v.as_array()
            .and_then(|a| a.first())
            .is_some_and(serde_json::Value::is_string)
    });
    if ok {
        return Ok(());
    }
    Err(LoadError::InvalidOption {
        option,
        reason: format!(
            "with --transport socket.io it is an event array, [\"event name\", data...] (e.g. [\"join\",\"room-{{room}}\"]); connection 0's is {text:?}"
        ),
    })
}
