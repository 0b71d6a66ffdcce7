//! JSON bodies of `GET /messages` (short and long polling) and `POST /messages`.
//!
//! A text message travels as `{"seq":N,"text":"..."}`, a binary one as
//! `{"seq":N,"binary":"<base64>"}`, so the payload arrives byte for byte.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::Kind;

/// Answer to a poll: the messages after `since`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollResponse {
    /// Messages with `seq > since`, at most the server's batch limit.
    pub messages: Vec<PolledMessage>,
    /// Newest sequence number the server has assigned (0 before the first message).
    pub last_seq: u64,
    /// Oldest sequence number still in the history ring.
    pub oldest_seq: u64,
    /// True when the batch limit cut the answer short: poll again at once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub more: bool,
}

impl PollResponse {
    /// The `since` to send next: the last message received, or `last_seq`
    /// when the answer was empty.
    pub fn next_since(&self) -> u64 {
        self.messages.last().map_or(self.last_seq, |m| m.seq)
    }
}

/// One message in a poll answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolledMessage {
    /// The hub's sequence number.
    pub seq: u64,
    /// Payload of a text message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Payload of a binary message, standard base64 with padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
}

impl PolledMessage {
    /// Builds the JSON form of a message. Text payloads must be valid UTF-8;
    /// anything else is sent as binary so nothing is lost.
    pub fn new(seq: u64, kind: Kind, payload: &[u8]) -> Self {
        match (kind, std::str::from_utf8(payload)) {
            (Kind::Text, Ok(text)) => PolledMessage {
                seq,
                text: Some(text.to_owned()),
                binary: None,
            },
            _ => PolledMessage {
                seq,
                text: None,
                binary: Some(base64::engine::general_purpose::STANDARD.encode(payload)),
            },
        }
    }

    /// The original payload and its kind.
    pub fn payload(&self) -> Result<(Kind, Vec<u8>), PollError> {
        match (&self.text, &self.binary) {
            (Some(t), None) => Ok((Kind::Text, t.clone().into_bytes())),
            (None, Some(b)) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map(|bytes| (Kind::Binary, bytes))
                .map_err(|_| PollError::BadBase64 { seq: self.seq }),
            _ => Err(PollError::NoPayload { seq: self.seq }),
        }
    }
}

/// Answer to `POST /messages`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishResponse {
    /// Sequence number the hub gave the message.
    pub seq: u64,
}

/// Body of every 4xx/5xx answer. `410 Gone` and `409 Conflict` fill in the
/// sequence numbers so a client can resume without another round trip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, in words a person can act on.
    pub error: String,
    /// Oldest sequence number still in history (on 410).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_seq: Option<u64>,
    /// Newest sequence number (on 409 and 410).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<u64>,
}

/// A poll message that cannot be turned back into its payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    /// `binary` was not valid base64.
    #[error("message {seq}: `binary` is not valid base64")]
    BadBase64 {
        /// The message's sequence number.
        seq: u64,
    },
    /// Neither or both of `text` and `binary` were present.
    #[error("message {seq}: exactly one of `text` and `binary` must be present")]
    NoPayload {
        /// The message's sequence number.
        seq: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_binary_round_trip() {
        let t = PolledMessage::new(1, Kind::Text, b"hi \"there\"");
        let b = PolledMessage::new(2, Kind::Binary, &[0, 159, 255]);
        let r = PollResponse {
            messages: vec![t.clone(), b.clone()],
            last_seq: 2,
            oldest_seq: 1,
            more: false,
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"messages":[{"seq":1,"text":"hi \"there\""},{"seq":2,"binary":"AJ//"}],"last_seq":2,"oldest_seq":1}"#
        );
        let back: PollResponse = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert_eq!(
            back.messages[1].payload().unwrap(),
            (Kind::Binary, vec![0, 159, 255])
        );
        assert_eq!(back.next_since(), 2);
    }

    #[test]
    fn invalid_utf8_text_is_sent_as_binary() {
        let m = PolledMessage::new(1, Kind::Text, &[0xff]);
        assert_eq!(m.payload().unwrap(), (Kind::Binary, vec![0xff]));
    }

    #[test]
    fn malformed_messages_are_errors() {
        let m: PolledMessage = serde_json::from_str(r#"{"seq":4}"#).unwrap();
        assert_eq!(m.payload(), Err(PollError::NoPayload { seq: 4 }));
        let m: PolledMessage = serde_json::from_str(r#"{"seq":5,"binary":"!"}"#).unwrap();
        assert_eq!(m.payload(), Err(PollError::BadBase64 { seq: 5 }));
    }
}
