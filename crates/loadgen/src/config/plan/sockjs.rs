//! SockJS options (`--transport sockjs`): which SockJS transport the
//! subscribers use, checked against the transport of the run.

use crate::config::opts::{LoadOpts, LoadTransport as Transport, SockJsTransport};
use crate::core::error::LoadError;

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
        max_frame: crate::proto::sockjs::frame_limit(o.payload_bytes),
    }))
}
