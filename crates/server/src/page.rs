//! The chat page: `GET /` and its script and style sheet, compiled into the
//! binary (`include_str!`, no build step, nothing fetched from elsewhere).
//!
//! The page (`assets/chat.html`, `chat.js`, `chat.css`) is the browser page
//! of the notes grown into a client of every transport this server speaks,
//! with counters of what each one costs; `docs/chat.md` says how it counts.

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use http::{Response, StatusCode};

use crate::response::Body;

/// One embedded file.
pub(crate) struct Asset {
    content_type: &'static str,
    body: &'static str,
}

/// `GET /`.
pub(crate) const CHAT_HTML: Asset = Asset {
    content_type: "text/html; charset=utf-8",
    body: include_str!("../assets/chat.html"),
};

/// `GET /chat.js`.
pub(crate) const CHAT_JS: Asset = Asset {
    content_type: "text/javascript; charset=utf-8",
    body: include_str!("../assets/chat.js"),
};

/// `GET /chat.css`.
pub(crate) const CHAT_CSS: Asset = Asset {
    content_type: "text/css; charset=utf-8",
    body: include_str!("../assets/chat.css"),
};

/// Everything the page loads comes from this server, and it talks only to
/// this server: a message that smuggled markup past `textContent` still
/// could not run a script or reach anywhere else.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The asset, revalidated on every load (the binary may have changed).
pub(crate) fn serve(asset: &Asset) -> Response<Body> {
    let mut resp = Response::new(Body::full(asset.body));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    resp
}
