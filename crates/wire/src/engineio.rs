//! Engine.IO v4 / Socket.IO v5 packets as text: the codec the load
//! generator speaks itself (no client library, so every byte is on a counted
//! socket and nothing is hidden in a library's buffers) and its test server
//! answers with. Parsing and encoding only: URLs, sessions and sockets are
//! the callers'.
//!
//! Engine.IO packets are text: a type digit then data (`0` open with a JSON
//! handshake, `1` close, `2` ping, `3` pong, `4` message, `5` upgrade, `6`
//! noop). A long-polling body carries several packets separated by `\x1e`
//! ([`payload`], [`join`]); a WebSocket carries one per frame. Socket.IO
//! packets ride in Engine.IO messages: `40` connect (answered
//! `40{"sid":..}`), `41` disconnect, `42` event (`42["chat message","text"]`,
//! optionally with `/namespace,` and an ack id before the array), `44`
//! connect error. Engine.IO v4 pings come from the server and are answered
//! with a pong on the same transport; an upgrade from polling to WebSocket
//! is `2probe` → `3probe`, then `5`.

use serde::{Deserialize, Serialize};

/// Separates the packets of a long-polling body.
pub const SEPARATOR: char = '\x1e';
/// The server's ping (Engine.IO v4 pings come from the server).
pub const PING: &str = "2";
/// The client's first packet on a WebSocket it upgrades to.
pub const PROBE: &str = "2probe";
/// The server's answer to [`PROBE`].
pub const PROBE_ANSWER: &str = "3probe";
/// The client's last packet of an upgrade: send on the WebSocket from now on.
pub const UPGRADE: &str = "5";
/// A Socket.IO connect to the default namespace, as a client sends it.
pub const CONNECT: &str = "40";

/// The Engine.IO handshake, the data of the open packet `0{...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Open {
    /// Session id, to be repeated in every later request.
    pub sid: String,
    /// Transports the session may upgrade to (`["websocket"]`).
    #[serde(default)]
    pub upgrades: Vec<String>,
    /// How often the server pings, ms.
    pub ping_interval: u64,
    /// How long the server waits for the pong, ms.
    pub ping_timeout: u64,
    /// Largest payload the server accepts, bytes.
    #[serde(default)]
    pub max_payload: u64,
}

impl Open {
    /// The open packet carrying this handshake: `0{"sid":...}`.
    pub fn encode(&self) -> String {
        // Serialising plain strings and integers cannot fail.
        format!("0{}", serde_json::to_string(self).unwrap_or_default())
    }
}

/// Reads the open packet's handshake (its data, after the `0`).
pub fn open(data: &str) -> Option<Open> {
    serde_json::from_str(data).ok()
}

/// One Engine.IO packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
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
pub fn packet(p: &str) -> Packet<'_> {
    let Some(kind) = p.as_bytes().first() else {
        return Packet::Other;
    };
    // `get`: a first character outside ASCII is no packet type (and no
    // char boundary to slice at).
    let data = p.get(1..).unwrap_or_default();
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
pub fn payload(body: &str) -> impl Iterator<Item = &str> {
    body.split(SEPARATOR).filter(|p| !p.is_empty())
}

/// A Socket.IO packet (the data of an Engine.IO message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SioPacket<'a> {
    /// `0...`: connected to the namespace.
    Connect,
    /// `1`: the server disconnected this socket.
    Disconnect,
    /// `2...`: an event.
    Event {
        /// Whether its name is the one asked for.
        named: bool,
        /// The whole Socket.IO packet (`2[...]`), as received.
        raw: &'a str,
    },
    /// `4...`: the server refused the connection to the namespace.
    ConnectError,
    /// Acks, binary events, anything else.
    Other,
}

/// Parses a Socket.IO packet, checking an event's name against `event`.
pub fn sio<'a>(data: &'a str, event: &str) -> SioPacket<'a> {
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

/// The part of a Socket.IO packet's data after its type and namespace, when the
/// packet is for namespace `nsp` (`/` is the default namespace, which
/// packets leave unnamed); `None` for another namespace's packet.
fn in_namespace<'a>(data: &'a str, nsp: &str) -> Option<&'a str> {
    // `data` is `<type digit>[/nsp,]rest`.
    let rest = data.get(1..)?;
    let named = rest.starts_with('/');
    if nsp == "/" {
        return (!named).then_some(rest);
    }
    let after = rest.strip_prefix(nsp)?;
    // `/chat,` or `/chat` at the end (a bare connect answer); not `/chatroom,`.
    let after = match after.strip_prefix(',') {
        Some(a) => a,
        None if after.is_empty() => after,
        None => return None,
    };
    Some(after)
}

/// As [`sio`], for a client of namespace `nsp` (e.g. `/chat`): packets of
/// other namespaces are [`SioPacket::Other`].
pub fn sio_in<'a>(data: &'a str, nsp: &str, event: &str) -> SioPacket<'a> {
    let Some(rest) = in_namespace(data, nsp) else {
        return SioPacket::Other;
    };
    match data.as_bytes().first() {
        Some(b'2') => SioPacket::Event {
            named: event_name(rest).is_some_and(|n| n == event),
            raw: data,
        },
        _ => sio(data, event),
    }
}

/// The connect packet of a client: `40`, `40/chat,`, `40{"token":"x"}` or
/// `40/chat,{"token":"x"}` (`auth` is the JSON object Socket.IO v5 carries
/// in it, which servers' middleware reads as `socket.handshake.auth`).
pub fn connect_to(nsp: &str, auth: Option<&str>) -> String {
    let mut s = String::from(CONNECT);
    if nsp != "/" {
        s.push_str(nsp);
        s.push(',');
    }
    s.push_str(auth.unwrap_or_default());
    s
}

/// An event packet of namespace `nsp` carrying `array`, an event array as
/// JSON text (`["join","room-1"]`).
pub fn emit_array(nsp: &str, array: &str) -> String {
    let mut s = String::with_capacity(nsp.len() + array.len() + 4);
    s.push_str("42");
    if nsp != "/" {
        s.push_str(nsp);
        s.push(',');
    }
    s.push_str(array);
    s
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

/// A pong answering a ping that carried `data` (`2probe` → `3probe`).
pub fn pong(data: &str) -> String {
    format!("3{data}")
}

/// A long-polling body carrying `packets`.
pub fn join<S: AsRef<str>>(packets: &[S]) -> String {
    let mut body = String::new();
    for (i, p) in packets.iter().enumerate() {
        if i > 0 {
            body.push(SEPARATOR);
        }
        body.push_str(p.as_ref());
    }
    body
}

/// The server's answer to a Socket.IO connect: `40{"sid":"..."}`.
pub fn connected(sid: &str) -> String {
    let mut s = String::from(CONNECT);
    // Serialising a string cannot fail.
    s.push_str(&serde_json::to_string(&serde_json::json!({ "sid": sid })).unwrap_or_default());
    s
}

/// An event packet as a client emits it: `42["event","payload"]`.
pub fn emit(event: &str, payload: &str) -> String {
    let mut s = String::with_capacity(event.len() + payload.len() + 8);
    s.push_str("42");
    // Serialising strings cannot fail.
    s.push_str(&serde_json::to_string(&[event, payload]).unwrap_or_default());
    s
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
        assert_eq!(packet("é2"), Packet::Other);
    }

    #[test]
    fn namespaces_and_auth() {
        assert_eq!(connect_to("/", None), "40");
        assert_eq!(connect_to("/chat", None), "40/chat,");
        assert_eq!(
            connect_to("/chat", Some("{\"token\":\"t\"}")),
            "40/chat,{\"token\":\"t\"}"
        );
        assert_eq!(emit_array("/chat", "[\"join\",1]"), "42/chat,[\"join\",1]");
        assert_eq!(emit_array("/", "[\"join\",1]"), "42[\"join\",1]");
        let ev = |p: &str, nsp: &str| {
            matches!(sio_in(p, nsp, "m"), SioPacket::Event { named: true, .. })
        };
        assert!(ev("2/chat,[\"m\",1]", "/chat"));
        assert!(ev("2/chat,5[\"m\",1]", "/chat"));
        assert!(ev("2/chat,21[\"m\",1]", "/chat"), "ack id 21");
        assert!(ev("221[\"m\",1]", "/"), "ack id 21");
        assert!(!ev("2/chatroom,[\"m\",1]", "/chat"));
        assert!(!ev("2[\"m\",1]", "/chat"));
        assert!(ev("2[\"m\",1]", "/"));
        assert!(!ev("2/chat,[\"m\",1]", "/"));
        assert_eq!(
            sio_in("0/chat,{\"sid\":\"x\"}", "/chat", "m"),
            SioPacket::Connect
        );
        assert_eq!(
            sio_in("4/chat,{\"message\":\"no\"}", "/chat", "m"),
            SioPacket::ConnectError
        );
        assert_eq!(sio_in("0{\"sid\":\"x\"}", "/chat", "m"), SioPacket::Other);
        assert_eq!(sio_in("1/chat", "/chat", "m"), SioPacket::Disconnect);
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
        let m = crate::marker::Marker {
            run_id: 1,
            publisher: 2,
            seq: 3,
            scheduled_us: 4,
        };
        let e = emit("chat \"message\"", &m.payload(64));
        assert!(e.starts_with("42[\"chat \\\"message\\\"\",\"~pp1."));
        assert_eq!(crate::marker::Marker::find(e.as_bytes()), Some(m));
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
        assert!(o.upgrades == ["websocket"] && o.max_payload == 1_000_000);
    }

    #[test]
    fn encodes_what_a_server_sends() {
        let o = Open {
            sid: "sid0".into(),
            upgrades: vec!["websocket".into()],
            ping_interval: 40,
            ping_timeout: 20000,
            max_payload: 1000000,
        };
        let encoded = o.encode();
        assert_eq!(
            encoded,
            r#"0{"sid":"sid0","upgrades":["websocket"],"pingInterval":40,"pingTimeout":20000,"maxPayload":1000000}"#
        );
        let Packet::Open(data) = packet(&encoded) else {
            panic!("{encoded}")
        };
        assert_eq!(open(data), Some(o));
        assert_eq!(connected("s-\"x"), r#"40{"sid":"s-\"x"}"#);
        assert_eq!(sio(&connected("a")[1..], ""), SioPacket::Connect);
        assert_eq!(pong("probe"), PROBE_ANSWER);
        assert_eq!(packet(PROBE), Packet::Ping("probe"));
        assert_eq!(join(&["2", "42[]"]), "2\x1e42[]");
        assert_eq!(join::<&str>(&[]), "");
        assert_eq!(payload(&join(&["a", "b"])).collect::<Vec<_>>(), ["a", "b"]);
    }
}
