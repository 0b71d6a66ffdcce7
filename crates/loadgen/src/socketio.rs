//! Socket.IO v5 over Engine.IO v4, spoken by the generator itself (no
//! client library, so every byte is on a counted socket and nothing is
//! hidden in a library's buffers).
//!
//! Engine.IO packets are text: a type digit then data (`0` open with a JSON
//! handshake, `1` close, `2` ping, `3` pong, `4` message, `5` upgrade, `6`
//! noop). A long-polling body carries several packets separated by `\x1e`;
//! a WebSocket carries one per frame. Socket.IO packets ride in Engine.IO
//! messages: `40` connect (answered `40{"sid":..}`), `41` disconnect, `42`
//! event (`42["chat message","text"]`, optionally with `/namespace,` and an
//! ack id before the array), `44` connect error. Engine.IO v4 pings come from
//! the server and are answered with a pong on the same transport.

use serde::Deserialize;

use crate::plan::Target;

/// The Engine.IO handshake, from the open packet `0{...}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Open {
    /// Session id, to be repeated in every later request.
    pub sid: String,
    /// How often the server pings, ms.
    pub ping_interval: u64,
    /// How long the server waits for the pong, ms.
    pub ping_timeout: u64,
}

/// One Engine.IO packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Packet<'a> {
    /// `0{json}`.
    Open(&'a str),
    /// `1`.
    Close,
    /// `2[data]` (`2probe` during an upgrade).
    Ping(&'a str),
    /// `3[data]`.
    Pong(&'a str),
    /// `4data`: a Socket.IO packet.
    Message(&'a str),
    /// `5`, `6`, binary (`b...`) or anything else: nothing to act on.
    Other,
}

/// Parses one Engine.IO packet.
pub(crate) fn packet(p: &str) -> Packet<'_> {
    let Some(kind) = p.as_bytes().first() else {
        return Packet::Other;
    };
    let data = &p[1..];
    match kind {
        b'0' => Packet::Open(data),
        b'1' => Packet::Close,
        b'2' => Packet::Ping(data),
        b'3' => Packet::Pong(data),
        b'4' => Packet::Message(data),
        _ => Packet::Other,
    }
}

/// The packets of a long-polling body.
pub(crate) fn payload(body: &str) -> impl Iterator<Item = &str> {
    body.split('\x1e').filter(|p| !p.is_empty())
}

/// A Socket.IO packet (the data of an Engine.IO message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SioPacket<'a> {
    /// `0...`: connected to the namespace.
    Connect,
    /// `1`: the server disconnected this socket.
    Disconnect,
    /// `2...`: an event; the whole packet, whether its name is the one asked for.
    Event { named: bool, raw: &'a str },
    /// `4...`: the server refused the connection to the namespace.
    ConnectError,
    /// Acks, binary events, anything else.
    Other,
}

/// Parses a Socket.IO packet, checking an event's name against `event`.
pub(crate) fn sio<'a>(data: &'a str, event: &str) -> SioPacket<'a> {
    match data.as_bytes().first() {
        Some(b'0') => SioPacket::Connect,
        Some(b'1') => SioPacket::Disconnect,
        Some(b'4') => SioPacket::ConnectError,
        Some(b'2') => SioPacket::Event {
            named: event_name(&data[1..]).is_some_and(|n| n == event),
            raw: data,
        },
        _ => SioPacket::Other,
    }
}

/// The name of an event: `[/nsp,][ackid]["name", ...]`.
fn event_name(rest: &str) -> Option<String> {
    let rest = match rest.strip_prefix('/') {
        Some(r) => &r[r.find(',')? + 1..],
        None => rest,
    };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let mut de = serde_json::Deserializer::from_str(rest);
    // Only the name is needed: read the array up to its first element.
    struct First(Option<String>);
    impl<'de> Deserialize<'de> for First {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = First;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a Socket.IO event array")
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut a: A,
                ) -> Result<First, A::Error> {
                    let name = a.next_element::<String>()?;
                    while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                    Ok(First(name))
                }
            }
            d.deserialize_seq(V)
        }
    }
    First::deserialize(&mut de).ok()?.0
}

/// An event packet as a client emits it: `42["event","payload"]`.
pub(crate) fn emit(event: &str, payload: &str) -> String {
    let mut s = String::with_capacity(event.len() + payload.len() + 8);
    s.push_str("42");
    // Serialising strings cannot fail.
    s.push_str(&serde_json::to_string(&[event, payload]).unwrap_or_default());
    s
}

/// Path and query of an Engine.IO request on `target`.
pub(crate) fn path(target: &Target, transport: &str, sid: Option<&str>) -> String {
    match sid {
        None => target.path_with(&format!("EIO=4&transport={transport}")),
        Some(sid) => target.path_with(&format!("EIO=4&transport={transport}&sid={sid}")),
    }
}

/// The `ws://` URL of the WebSocket transport on `target`.
pub(crate) fn ws_url(target: &Target, sid: Option<&str>) -> String {
    let scheme = if target.url.scheme() == "https" {
        "wss"
    } else {
        "ws"
    };
    format!(
        "{scheme}://{}{}",
        target.authority,
        path(target, "websocket", sid)
    )
}

/// Reads the open packet's handshake.
pub(crate) fn open(data: &str) -> Option<Open> {
    serde_json::from_str(data).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_and_payloads() {
        let body = "0{\"sid\":\"a\"}\x1e2\x1e42[\"chat message\",\"x\"]\x1e6";
        let v: Vec<_> = payload(body).map(packet).collect();
        assert_eq!(
            v,
            [
                Packet::Open("{\"sid\":\"a\"}"),
                Packet::Ping(""),
                Packet::Message("2[\"chat message\",\"x\"]"),
                Packet::Other,
            ]
        );
        assert_eq!(packet("3probe"), Packet::Pong("probe"));
        assert_eq!(packet("1"), Packet::Close);
        assert_eq!(packet(""), Packet::Other);
    }

    #[test]
    fn events_are_recognised_by_name() {
        let named =
            |p: &str| matches!(sio(p, "chat message"), SioPacket::Event { named: true, .. });
        assert!(named("2[\"chat message\",\"~pp1.1.0.0.5~\"]"));
        assert!(named("2/chat,[\"chat message\",\"x\"]"));
        assert!(named("2/chat,17[\"chat message\",{\"a\":[1,2]},3]"));
        assert!(named("212[\"chat message\"]"));
        assert!(!named("2[\"other\",\"x\"]"));
        assert!(!named("2[\"chat message\",\"x\""), "truncated");
        assert!(!named("2{}"));
        assert!(!named("2[]"));
        assert_eq!(sio("0{\"sid\":\"x\"}", "e"), SioPacket::Connect);
        assert_eq!(sio("1", "e"), SioPacket::Disconnect);
        assert_eq!(sio("4{\"message\":\"no\"}", "e"), SioPacket::ConnectError);
    }

    #[test]
    fn emitted_events_are_json_and_keep_the_marker() {
        let m = pushpoll_wire::marker::Marker {
            run_id: 1,
            publisher: 2,
            seq: 3,
            scheduled_us: 4,
        };
        let e = emit("chat \"message\"", &m.payload(64));
        assert!(e.starts_with("42[\"chat \\\"message\\\"\",\"~pp1."));
        assert_eq!(pushpoll_wire::marker::Marker::find(e.as_bytes()), Some(m));
        assert!(matches!(
            sio(&e[1..], "chat \"message\""),
            SioPacket::Event { named: true, .. }
        ));
    }

    #[test]
    fn reads_the_handshake() {
        let o = open(r#"{"sid":"GbaD","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#).unwrap();
        assert_eq!(
            (o.sid.as_str(), o.ping_interval, o.ping_timeout),
            ("GbaD", 25000, 20000)
        );
        assert!(open("{}").is_none());
    }
}
