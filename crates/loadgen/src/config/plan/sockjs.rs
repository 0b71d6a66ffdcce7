//! SockJS options (`--transport sockjs`): which SockJS transport the
//! subscribers use, checked against the transport of the run.

use crate::config::opts::{LoadOpts, LoadTransport as Transport, SockJsTransport};
use crate::core::error::LoadError;

/// Smallest frame limit, bytes: messages of the run are far smaller, but a
/// chat server may send history or presence frames of its own.
pub(crate) const MIN_FRAME: usize = 1 << 20;

/// The frame limit of a run: [`MIN_FRAME`], or room for a batch of a few
/// hundred messages of `payload_bytes` when they are larger.
fn frame_limit(payload_bytes: usize) -> usize {
    MIN_FRAME.max(payload_bytes.saturating_mul(256))
}

/// What SockJS subscribers and publishers need (`--transport sockjs`).
#[derive(Debug, Clone)]
pub(crate) struct SockJsPlan {
    /// The subscribers' SockJS transport.
    pub mode: SockJsTransport,
    /// Longest frame (a streaming line, a polling answer, a WebSocket
    /// message) a subscriber accepts, bytes.
    pub max_frame: usize,
}

/// `--sockjs-transport`, refused with any transport but `sockjs`.
pub(super) fn plan(o: &LoadOpts) -> Result<Option<SockJsPlan>, LoadError> {
    if o.transport != Transport::SockJs {
        if o.sockjs_transport.is_some() {
            return Err(LoadError::InvalidOption {
                option: "sockjs-transport",
                reason: format!(
                    "only SockJS subscribers use it; drop it or use --transport sockjs (got {})",
                    o.transport
                ),
            });
        }
        return Ok(None);
    }
    Ok(Some(SockJsPlan {
        mode: o.sockjs_transport.unwrap_or(SockJsTransport::Websocket),
        max_frame: frame_limit(o.payload_bytes),
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_frame_limit_grows_with_the_payload() {
        assert_eq!(super::frame_limit(64), super::MIN_FRAME);
        assert_eq!(super::frame_limit(1 << 20), 256 << 20);
    }
}
