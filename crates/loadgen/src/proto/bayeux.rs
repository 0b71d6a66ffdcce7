//! The Bayeux protocol (Faye, CometD) as a message codec: the requests a
//! client sends (`/meta/handshake`, `/meta/subscribe`, `/meta/connect`, a
//! publish) and the reading of what a server answers, with no I/O. Every
//! request and answer is a JSON array of messages, over HTTP `POST`
//! (long-polling) and over WebSocket frames alike.
//!
//! A server's answer is untrusted: it is read whole only up to the caller's
//! size limit, and anything that is not an array (or one object) of objects
//! with a `channel` is [`BadAnswer`], counted as `bayeux_bad_answer` rather
//! than guessed at.

use serde_json::{json, Map, Value};

use crate::config::opts::BayeuxTransport as ConnType;
use crate::config::plan::Target;
use crate::config::template::Vars;

/// The protocol version every handshake asks for.
pub(crate) const VERSION: &str = "1.0";

/// Largest answer (HTTP body or WebSocket message) read, bytes.
pub(crate) const MAX_ANSWER: usize = 4 << 20;

/// Longest `advice.timeout` / `advice.interval` obeyed, milliseconds: a
/// server's advice cannot park a subscriber for longer.
pub(crate) const MAX_ADVICE_MS: u64 = 120_000;

/// What a server advises after a reply (`advice`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Advice {
    pub reconnect: Option<Reconnect>,
    /// Milliseconds to wait before the next connect.
    pub interval: Option<u64>,
    /// Milliseconds the server may hold a connect.
    pub timeout: Option<u64>,
}

/// `advice.reconnect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reconnect {
    /// Connect again (after `interval`).
    Retry,
    /// Handshake again: the session is gone.
    Handshake,
    /// Do not come back.
    None,
}

/// The answer to a request of ours (a `/meta/*` reply, or a publish's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Reply {
    pub channel: String,
    pub id: Option<String>,
    pub successful: bool,
    pub client_id: Option<String>,
    pub error: Option<String>,
    pub advice: Option<Advice>,
}

impl Reply {
    /// Whether the server no longer knows the client: the session must be
    /// handshaken again. CometD says `402::Unknown client`, Faye
    /// `401:<clientId>:Unknown client` (its 402 is a missing parameter).
    pub fn unknown_client(&self) -> bool {
        self.error
            .as_deref()
            .is_some_and(|e| e.to_ascii_lowercase().ends_with(":unknown client"))
    }

    /// The server's error, or `-` when it gave none (for logs).
    pub fn why(&self) -> &str {
        self.error.as_deref().unwrap_or("-")
    }
}

/// One message of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Msg {
    /// A reply to a request (meta or publish).
    Reply(Reply),
    /// A message published on a channel: its `data`, as JSON text.
    Data { channel: String, data: String },
}

/// An answer that is not Bayeux.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadAnswer(pub String);

/// A request: one message in an array, as JSON text.
fn request(msg: Value) -> String {
    Value::Array(vec![msg]).to_string()
}

/// `/meta/handshake`, offering the one connection type this client uses.
pub(crate) fn handshake(id: u64, conn: ConnType) -> String {
    request(json!({
        "channel": "/meta/handshake",
        "version": VERSION,
        "minimumVersion": VERSION,
        "supportedConnectionTypes": [conn.connection_type()],
        "id": id.to_string(),
    }))
}

/// `/meta/subscribe` to `channel`.
pub(crate) fn subscribe(id: u64, client_id: &str, channel: &str) -> String {
    request(json!({
        "channel": "/meta/subscribe",
        "clientId": client_id,
        "subscription": channel,
        "id": id.to_string(),
    }))
}

/// `/meta/connect`.
pub(crate) fn connect(id: u64, client_id: &str, conn: ConnType) -> String {
    request(json!({
        "channel": "/meta/connect",
        "clientId": client_id,
        "connectionType": conn.connection_type(),
        "id": id.to_string(),
    }))
}

/// A publish of `data` (JSON text, checked by the caller) on `channel`.
/// `None` when `data` is not JSON.
pub(crate) fn publish(id: u64, client_id: &str, channel: &str, data: &str) -> Option<String> {
    let data: Value = serde_json::from_str(data).ok()?;
    Some(request(json!({
        "channel": channel,
        "data": data,
        "clientId": client_id,
        "id": id.to_string(),
    })))
}

/// The default publish data around a payload: `{"text": payload}`.
pub(crate) fn default_data(payload: &str) -> String {
    json!({ "text": payload }).to_string()
}

/// Reads an answer: a JSON array of messages (or one message).
pub(crate) fn parse(body: &[u8]) -> Result<Vec<Msg>, BadAnswer> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        let start = String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned();
        BadAnswer(format!("not JSON ({e}): {start:?}"))
    })?;
    let items = match value {
        Value::Array(items) => items,
        obj @ Value::Object(_) => vec![obj],
        other => return Err(BadAnswer(format!("not an array of messages: {other}"))),
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(m) => message(m),
            other => Err(BadAnswer(format!("a message is not an object: {other}"))),
        })
        .collect()
}

fn message(mut m: Map<String, Value>) -> Result<Msg, BadAnswer> {
    let channel = match m.remove("channel") {
        Some(Value::String(c)) => c,
        _ => return Err(BadAnswer("a message has no channel".into())),
    };
    let text = |v: Option<Value>| match v {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let meta = channel.starts_with("/meta/");
    if !meta {
        if let Some(data) = m.remove("data") {
            return Ok(Msg::Data {
                channel,
                data: data.to_string(),
            });
        }
    }
    let successful = match m.remove("successful") {
        Some(Value::Bool(b)) => b,
        None if !meta => {
            return Err(BadAnswer(format!(
                "a message on {channel} has neither data nor successful"
            )))
        }
        _ => return Err(BadAnswer(format!("{channel} reply without successful"))),
    };
    let advice = match m.remove("advice") {
        Some(Value::Object(a)) => Some(advice(&a)),
        _ => None,
    };
    Ok(Msg::Reply(Reply {
        channel,
        id: text(m.remove("id")),
        successful,
        client_id: text(m.remove("clientId")),
        error: text(m.remove("error")),
        advice,
    }))
}

fn advice(a: &Map<String, Value>) -> Advice {
    let ms = |k: &str| {
        a.get(k)
            .and_then(Value::as_u64)
            .map(|v| v.min(MAX_ADVICE_MS))
    };
    Advice {
        reconnect: match a.get("reconnect").and_then(Value::as_str) {
            Some("retry") => Some(Reconnect::Retry),
            Some("handshake") => Some(Reconnect::Handshake),
            Some("none") => Some(Reconnect::None),
            _ => None,
        },
        interval: ms("interval"),
        timeout: ms("timeout"),
    }
}

/// The `ws://` (or `wss://`) URL of the Bayeux endpoint at `target`.
pub(crate) fn ws_url(target: &Target, vars: &Vars<'_>) -> String {
    let scheme = if target.url.scheme() == "https" {
        "wss"
    } else {
        "ws"
    };
    format!("{scheme}://{}{}", target.authority, target.path(vars))
}

/// The reply to request `id` among `msgs`, if any.
pub(crate) fn reply_to(msgs: &[Msg], id: u64) -> Option<&Reply> {
    let id = id.to_string();
    msgs.iter().find_map(|m| match m {
        Msg::Reply(r) if r.id.as_deref() == Some(id.as_str()) => Some(r),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_arrays_of_one_message() {
        let v: Value = serde_json::from_str(&handshake(1, ConnType::Websocket)).unwrap();
        assert_eq!(v[0]["channel"], "/meta/handshake");
        assert_eq!(v[0]["version"], "1.0");
        assert_eq!(v[0]["supportedConnectionTypes"], json!(["websocket"]));
        assert_eq!(v[0]["id"], "1");
        let v: Value = serde_json::from_str(&subscribe(2, "c1", "/chat/3")).unwrap();
        assert_eq!(
            v,
            json!([{"channel":"/meta/subscribe","clientId":"c1","subscription":"/chat/3","id":"2"}])
        );
        let v: Value = serde_json::from_str(&connect(3, "c1", ConnType::LongPolling)).unwrap();
        assert_eq!(v[0]["connectionType"], "long-polling");
        let p = publish(4, "c1", "/x", r#"{"text":"~pp1~"}"#).unwrap();
        let v: Value = serde_json::from_str(&p).unwrap();
        assert_eq!(v[0]["data"]["text"], "~pp1~");
        assert_eq!(v[0]["channel"], "/x");
        assert!(publish(5, "c1", "/x", "{not json").is_none());
        assert_eq!(default_data("a\"b"), r#"{"text":"a\"b"}"#);
    }

    #[test]
    fn answers_are_read_into_replies_and_data() {
        let body = br#"[{"channel":"/chat","data":{"text":"hi ~pp1~"},"id":"9"},
            {"channel":"/meta/connect","successful":true,"id":3,
             "advice":{"reconnect":"retry","interval":0,"timeout":25000}},
            {"channel":"/chat","successful":false,"id":"4","error":"407:/chat:Failed"}]"#;
        let msgs = parse(body).unwrap();
        assert_eq!(msgs.len(), 3);
        match &msgs[0] {
            Msg::Data { channel, data } => {
                assert_eq!(channel, "/chat");
                assert!(data.contains("hi ~pp1~"), "{data}");
            }
            m => panic!("{m:?}"),
        }
        let r = reply_to(&msgs, 3).unwrap();
        assert!(r.successful);
        assert_eq!(
            r.advice,
            Some(Advice {
                reconnect: Some(Reconnect::Retry),
                interval: Some(0),
                timeout: Some(25000)
            })
        );
        let r = reply_to(&msgs, 4).unwrap();
        assert!(!r.successful && !r.unknown_client());
        assert!(reply_to(&msgs, 5).is_none());
        // One object alone is an answer too.
        let msgs = parse(
            br#"{"channel":"/meta/handshake","successful":true,"clientId":"abc","advice":{"reconnect":"none","timeout":999999999}}"#,
        )
        .unwrap();
        let Msg::Reply(r) = &msgs[0] else { panic!() };
        assert_eq!(r.client_id.as_deref(), Some("abc"));
        let a = r.advice.unwrap();
        assert_eq!(a.reconnect, Some(Reconnect::None));
        assert_eq!(a.timeout, Some(MAX_ADVICE_MS), "advice is capped");
        let msgs = parse(
            br#"[{"channel":"/meta/connect","successful":false,"error":"402::Unknown client"}]"#,
        )
        .unwrap();
        let Msg::Reply(r) = &msgs[0] else { panic!() };
        assert!(r.unknown_client());
        // Faye's own wording, and its 402, which is something else.
        let faye = parse(
            br#"[{"id":"3","channel":"/meta/connect","successful":false,"error":"401:nope:Unknown client","advice":{"reconnect":"handshake"}}]"#,
        )
        .unwrap();
        let r = reply_to(&faye, 3).unwrap();
        assert!(r.unknown_client());
        assert_eq!(r.advice.unwrap().reconnect, Some(Reconnect::Handshake));
        let missing = parse(br#"[{"channel":"/x","successful":false,"error":"402:data:Missing required parameter"}]"#).unwrap();
        let Msg::Reply(r) = &missing[0] else { panic!() };
        assert!(!r.unknown_client());
    }

    #[test]
    fn garbage_is_a_bad_answer_not_a_panic() {
        for body in [
            &b"<html>502 Bad Gateway</html>"[..],
            b"",
            b"[1,2]",
            b"\"x\"",
            b"[{\"id\":\"1\"}]",
            b"[{\"channel\":\"/meta/connect\"}]",
            b"[{\"channel\":\"/chat\",\"id\":\"1\"}]",
            b"[{\"channel\":7}]",
            b"\xff\xfe[",
            b"[[[[[[[[[[[[",
        ] {
            assert!(parse(body).is_err(), "{:?}", String::from_utf8_lossy(body));
        }
        // Deep nesting stops at serde_json's recursion limit.
        let deep = "[".repeat(100_000);
        assert!(parse(deep.as_bytes()).is_err());
    }
}
