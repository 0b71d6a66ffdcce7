//! Where Engine.IO requests go on the target: the polling path and the
//! WebSocket URL of a session. The packets themselves are
//! [`pushpoll_wire::engineio`].

use crate::config::plan::Target;
use crate::config::template::Vars;

/// Path and query of an Engine.IO request on `target`.
pub(crate) fn path(target: &Target, vars: &Vars<'_>, transport: &str, sid: Option<&str>) -> String {
    match sid {
        None => target.path_with(vars, &format!("EIO=4&transport={transport}")),
        Some(sid) => target.path_with(vars, &format!("EIO=4&transport={transport}&sid={sid}")),
    }
}

/// The `ws://` URL of the WebSocket transport on `target`.
pub(crate) fn ws_url(target: &Target, vars: &Vars<'_>, sid: Option<&str>) -> String {
    let scheme = if target.url.scheme() == "https" {
        "wss"
    } else {
        "ws"
    };
    format!(
        "{scheme}://{}{}",
        target.authority,
        path(target, vars, "websocket", sid)
    )
}
