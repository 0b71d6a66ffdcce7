//! `GET /` serves the chat page, and everything it loads comes from this
//! server: no external URL, no build step, messages never parsed as HTML.

use bytes::Bytes;
use http::Method;
use pushpoll_testkit::{metric, metrics, TestServer};

use crate::support::*;

/// Every `src="…"` and `href="…"` value in `html`.
fn linked(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').expect("a closing quote");
            out.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    out
}

#[tokio::test]
async fn serves_the_chat_page() {
    let server = TestServer::start_default().await;
    let reply = get(server.addr, "/").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), "text/html; charset=utf-8");
    assert!(reply
        .header("content-security-policy")
        .contains("connect-src 'self'"));
    let html = std::str::from_utf8(&reply.body).unwrap();
    for needle in [
        "<!doctype html>",
        r#"<input id="input""#,
        r#"maxlength="4000""#,
        r#"<button id="send" type="submit""#,
        r#"<form id="compose""#,
        r#"<ol id="messages""#,
        r#"id="status""#,
        r#"<select id="transport""#,
        r#"<option value="ws""#,
        r#"<option value="sse""#,
        r#"<option value="long""#,
        r#"<option value="short""#,
        r#"<select id="interval""#,
        r#"<option value="1000" selected"#,
        r#"id="stats-body""#,
        r#"<script src="/chat.js""#,
        r#"<link rel="stylesheet" href="/chat.css""#,
    ] {
        assert!(html.contains(needle), "{needle:?} missing from the page");
    }
}

#[tokio::test]
async fn loads_nothing_from_elsewhere() {
    let server = TestServer::start_default().await;
    let mut http = Http::connect(server.addr).await;
    let html = http.get("/").await.body;
    let html = std::str::from_utf8(&html).unwrap();
    let links = linked(html);
    assert!(links.len() >= 3, "{links:?}");
    for link in &links {
        let local = (link.starts_with('/') && !link.starts_with("//")) || link.starts_with("data:");
        assert!(local, "the page links to {link:?}, outside this server");
    }
    for path in ["/", "/chat.js", "/chat.css"] {
        let body = http.get(path).await.body;
        let text = std::str::from_utf8(&body).unwrap();
        for scheme in ["http://", "https://"] {
            assert!(!text.contains(scheme), "{path} names a {scheme} URL");
        }
    }
    let css = http.get("/chat.css").await.body;
    let css = std::str::from_utf8(&css).unwrap();
    assert!(!css.contains("@import") && !css.contains("url("), "{css}");
}

#[tokio::test]
async fn serves_script_and_style_with_their_types() {
    let server = TestServer::start_default().await;
    let mut http = Http::connect(server.addr).await;
    for (path, content_type, needle) in [
        (
            "/chat.js",
            "text/javascript; charset=utf-8",
            "'pushpoll.v1'",
        ),
        ("/chat.css", "text/css; charset=utf-8", "#messages"),
    ] {
        let reply = http.get(path).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-type"), content_type, "{path}");
        assert_eq!(reply.header("x-content-type-options"), "nosniff");
        let body = std::str::from_utf8(&reply.body).unwrap();
        assert!(body.contains(needle), "{path} lacks {needle:?}");
    }
}

/// What a peer sends is shown with `textContent` only: the script has no way
/// of turning a string into markup or code.
#[tokio::test]
async fn script_never_parses_messages_as_html() {
    let server = TestServer::start_default().await;
    let js = get(server.addr, "/chat.js").await.body;
    let js = std::str::from_utf8(&js).unwrap();
    assert!(js.contains(".textContent"));
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "createContextualFragment",
    ] {
        assert!(!js.contains(sink), "chat.js uses {sink}");
    }
}

#[tokio::test]
async fn page_paths_take_only_get() {
    let server = TestServer::start_default().await;
    let mut http = Http::connect(server.addr).await;
    for path in ["/", "/chat.js", "/chat.css"] {
        let reply = http.request(Method::POST, path, &[], Bytes::new()).await;
        assert_eq!(reply.status, 405, "{path}");
        assert_eq!(reply.header("allow"), "GET");
    }
    let m = metrics(server.addr).await;
    assert_eq!(metric(&m, "pushpoll_requests_total", Some("other")), 4.0);
}
