//! The lean client against scripted answers (no server): framing, errors,
//! keep-alive, and the request bytes against hyper's.

use std::io::Write as _;

use bytes::Bytes;
use clap::Parser as _;
use http_body_util::Empty;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;
use crate::config::headers::RequestKind;
use crate::config::opts::LoadOpts;
use crate::config::plan::Plan;
use crate::proto::http::get;

const T: Duration = Duration::from_secs(5);
const MAX: usize = 1 << 20;

fn minimal_head() -> PollHead {
    let plan = plan(&[]);
    let req = plan
        .request_headers(
            RequestKind::Poll,
            get(&plan.sub.authority, "/"),
            &plan.sub_vars(0),
        )
        .body(())
        .unwrap();
    PollHead::new(req.headers())
}

fn plan(extra: &[&str]) -> Plan {
    let mut args = vec![
        "load",
        "--url",
        "http://127.0.0.1:8080/messages",
        "--transport",
        "short-poll",
    ];
    args.extend_from_slice(extra);
    Plan::new(&LoadOpts::try_parse_from(args).unwrap()).unwrap()
}

/// Reads one request head (up to the empty line) off the server's end.
async fn read_request(s: &mut DuplexStream) -> Option<Vec<u8>> {
    let mut req = Vec::new();
    while !req.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        if s.read(&mut b).await.ok()? == 0 {
            return None;
        }
        req.push(b[0]);
    }
    Some(req)
}

/// A server answering each request with the next of `answers`, then
/// closing when `close` (else holding the connection open); returns the
/// requests it read.
fn serve(
    answers: Vec<Vec<u8>>,
    close: bool,
) -> (H1Conn<DuplexStream>, tokio::task::JoinHandle<Vec<Vec<u8>>>) {
    let (c, mut s) = tokio::io::duplex(4 << 20);
    let task = tokio::spawn(async move {
        let mut reqs = Vec::new();
        for a in answers {
            let Some(r) = read_request(&mut s).await else {
                break;
            };
            reqs.push(r);
            s.write_all(&a).await.unwrap();
        }
        if !close {
            // Hold the connection until the client drops it.
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
        }
        reqs
    });
    (H1Conn::new(c), task)
}

/// One exchange against one scripted answer.
async fn one(answer: &[u8], close: bool, max: usize) -> Result<Answer, Kind> {
    let (mut c, _srv) = serve(vec![answer.to_vec()], close);
    c.fetch(&minimal_head(), "/messages", T, max).await
}

fn err(r: Result<Answer, Kind>) -> String {
    r.map(|a| a.status).unwrap_err().into_owned()
}

#[tokio::test]
async fn content_length_answers_are_read_exactly() {
    let a = one(
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
        false,
        MAX,
    )
    .await
    .unwrap();
    assert_eq!(
        (a.status, &a.body[..], a.close),
        (200, &b"hello"[..], false)
    );
    assert_eq!(a.retry_after, None);
}

#[tokio::test]
async fn chunked_bodies_are_joined_without_extensions_or_trailers() {
    let ans = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
        5;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nx-trailer: 1\r\nx-other: 2\r\n\r\n";
    let a = one(ans, false, MAX).await.unwrap();
    assert_eq!(&a.body[..], b"hello 0123456789");
    // A bad chunk is a protocol error, and so is a chunk without its CRLF.
    let bad = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n";
    assert_eq!(err(one(bad, false, MAX).await), "protocol");
    let bad = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n";
    assert_eq!(err(one(bad, false, MAX).await), "protocol");
    // Chunks over the limit, counted together.
    let big = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\n012345\r\n6\r\n012345\r\n0\r\n\r\n";
    assert_eq!(err(one(big, false, 10).await), "body_too_large");
}

#[tokio::test]
async fn a_body_without_length_is_read_to_the_end_and_the_connection_retired() {
    let (mut c, _srv) = serve(vec![b"HTTP/1.1 200 OK\r\n\r\nuntil the end".to_vec()], true);
    let head = minimal_head();
    let a = c.fetch(&head, "/messages", T, MAX).await.unwrap();
    assert_eq!(&a.body[..], b"until the end");
    assert_eq!(err(c.fetch(&head, "/messages", T, MAX).await), "eof");
    // Over the limit before the end.
    let long = [b"HTTP/1.1 200 OK\r\n\r\n".to_vec(), vec![b'x'; 100]].concat();
    assert_eq!(err(one(&long, true, 10).await), "body_too_large");
}

#[tokio::test]
async fn interim_answers_are_skipped() {
    let ans = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n\
        HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    let a = one(ans, false, MAX).await.unwrap();
    assert_eq!((a.status, &a.body[..]), (200, &b"ok"[..]));
    // No upgrade was asked for.
    let up = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n";
    assert_eq!(err(one(up, false, MAX).await), "protocol");
}

#[tokio::test]
async fn no_content_has_no_body_and_keeps_the_connection() {
    let (mut c, srv) = serve(
        vec![
            b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
            b"HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n!".to_vec(),
        ],
        false,
    );
    let head = minimal_head();
    for (status, body) in [(204, ""), (304, ""), (200, "!")] {
        let a = c.fetch(&head, "/messages", T, MAX).await.unwrap();
        assert_eq!((a.status, &a.body[..]), (status, body.as_bytes()));
    }
    drop(c);
    assert_eq!(srv.await.unwrap().len(), 3);
}

#[tokio::test]
async fn connection_close_and_http10_retire_the_connection() {
    for ans in [
        &b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\ncontent-length: 2\r\n\r\nok"[..],
        &b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok"[..],
    ] {
        let (mut c, _srv) = serve(vec![ans.to_vec(), ans.to_vec()], false);
        let head = minimal_head();
        let a = c.fetch(&head, "/messages", T, MAX).await.unwrap();
        assert!(a.close, "{}", String::from_utf8_lossy(ans));
        assert_eq!(err(c.fetch(&head, "/messages", T, MAX).await), "eof");
    }
    let ka = b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\nok";
    assert!(!one(ka, false, MAX).await.unwrap().close);
    // A body delimited by the end of the connection ends it too.
    let to_eof = one(b"HTTP/1.1 200 OK\r\n\r\nok", true, MAX).await.unwrap();
    assert!(to_eof.close);
    assert_eq!(&to_eof.body[..], b"ok");
}

#[tokio::test]
async fn retry_after_is_read_on_503() {
    let a = one(
        b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 3\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
        false,
        MAX,
    )
    .await
    .unwrap();
    assert_eq!(
        (a.status, a.retry_after, a.close),
        (503, Some(Duration::from_secs(3)), true)
    );
    let a = one(
        b"HTTP/1.1 500 Oops\r\nretry-after: 3\r\ncontent-length: 0\r\n\r\n",
        false,
        MAX,
    )
    .await
    .unwrap();
    assert_eq!(a.retry_after, None);
}

#[tokio::test]
async fn compressed_bodies_are_decoded() {
    let text = br#"{"messages":[],"last_seq":7,"oldest_seq":1,"more":false}"#;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text).unwrap();
    let gz = gz.finish().unwrap();
    let mut br = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
        w.write_all(text).unwrap();
    }
    for (name, enc) in [("gzip", gz), ("br", br)] {
        let ans = [
            format!(
                "HTTP/1.1 200 OK\r\ncontent-encoding: {name}\r\ncontent-length: {}\r\n\r\n",
                enc.len()
            )
            .into_bytes(),
            enc,
        ]
        .concat();
        let a = one(&ans, false, MAX).await.unwrap();
        assert_eq!(&a.body[..], &text[..], "{name}");
    }
    // A coding it cannot decode: counted, and the connection stays usable.
    let (mut c, _srv) = serve(
        vec![
            b"HTTP/1.1 200 OK\r\ncontent-encoding: zstd\r\ncontent-length: 1\r\n\r\nx".to_vec(),
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\ny".to_vec(),
        ],
        false,
    );
    let head = minimal_head();
    assert_eq!(
        err(c.fetch(&head, "/messages", T, MAX).await),
        "content_encoding"
    );
    assert_eq!(
        &c.fetch(&head, "/messages", T, MAX).await.unwrap().body[..],
        b"y"
    );
}

#[tokio::test]
async fn limits_garbage_truncation_and_leftovers_are_errors() {
    let big_head = [
        b"HTTP/1.1 200 OK\r\nx-big: ".to_vec(),
        vec![b'a'; MAX_HEAD + 10],
        b"\r\n\r\n".to_vec(),
    ]
    .concat();
    assert_eq!(err(one(&big_head, false, MAX).await), "protocol");
    let over = b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n0123456789a";
    assert_eq!(err(one(over, false, 10).await), "body_too_large");
    let cut = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n01234";
    assert_eq!(err(one(cut, true, MAX).await), "eof");
    assert_eq!(err(one(b"HTTP/1.1 200 O", true, MAX).await), "eof");
    assert_eq!(err(one(b"", true, MAX).await), "eof");
    assert_eq!(err(one(b"garbage\r\n\r\n", false, MAX).await), "protocol");
    let two = b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nok";
    assert_eq!(err(one(two, false, MAX).await), "protocol");
    // More than was asked for: the connection is dropped.
    let (mut c, _srv) = serve(
        vec![b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1".to_vec()],
        false,
    );
    let head = minimal_head();
    assert_eq!(err(c.fetch(&head, "/messages", T, MAX).await), "protocol");
    assert_eq!(err(c.fetch(&head, "/messages", T, MAX).await), "eof");
    // A target hyper would have refused.
    assert_eq!(err(c.fetch(&head, "/a b", T, MAX).await), "eof");
    let (mut c, _srv) = serve(vec![], false);
    assert_eq!(err(c.fetch(&head, "/a b", T, MAX).await), "protocol");
}

#[tokio::test(start_paused = true)]
async fn a_silent_server_times_out() {
    let (c, mut s) = tokio::io::duplex(1 << 16);
    let _srv = tokio::spawn(async move {
        let _ = read_request(&mut s).await;
        tokio::time::sleep(Duration::from_secs(3600)).await;
        drop(s);
    });
    let mut c = H1Conn::new(c);
    let r = c.fetch(&minimal_head(), "/messages", T, MAX).await;
    assert_eq!(err(r), "timeout");
}

#[tokio::test]
async fn one_connection_carries_many_polls() {
    let answers: Vec<Vec<u8>> = (0..5)
        .map(|i| format!("HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n{i}").into_bytes())
        .collect();
    let (mut c, srv) = serve(answers, false);
    let head = minimal_head();
    for i in 0..5 {
        let a = c
            .fetch(&head, &format!("/messages?since={i}"), T, MAX)
            .await
            .unwrap();
        assert_eq!(a.body, Bytes::from(i.to_string()));
    }
    drop(c);
    let reqs = srv.await.unwrap();
    assert_eq!(reqs.len(), 5);
    for (i, r) in reqs.iter().enumerate() {
        let line = format!("GET /messages?since={i} HTTP/1.1\r\n");
        assert!(
            r.starts_with(line.as_bytes()),
            "{}",
            String::from_utf8_lossy(r)
        );
    }
}

/// What hyper 1's client writes for a request, read off the wire.
async fn hyper_bytes(req: http::Request<Empty<Bytes>>) -> Vec<u8> {
    let (c, mut s) = tokio::io::duplex(1 << 16);
    let (mut tx, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(c))
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    let send = tokio::spawn(async move { tx.send_request(req).await });
    let bytes = read_request(&mut s).await.unwrap();
    send.abort();
    task.abort();
    bytes
}

#[tokio::test]
async fn requests_are_byte_for_byte_what_hyper_wrote() {
    for extra in [
        &[][..],
        &["--header-profile", "browser"][..],
        &[
            "--header-profile",
            "browser",
            "--header",
            "X-Token: abc",
            "--header",
            "Cookie: a=b",
            "--origin",
            "http://example.com:8080",
        ][..],
    ] {
        let plan = plan(extra);
        let req = plan
            .request_headers(
                RequestKind::Poll,
                get(&plan.sub.authority, "/"),
                &plan.sub_vars(0),
            )
            .body(())
            .unwrap();
        let head = PollHead::new(req.headers());
        for target in ["/messages", "/messages?since=42&wait=30"] {
            let req = plan
                .request_headers(
                    RequestKind::Poll,
                    get(&plan.sub.authority, target),
                    &plan.sub_vars(0),
                )
                .body(Empty::new())
                .unwrap();
            let want = hyper_bytes(req).await;
            let mut got = Vec::new();
            head.render(target, &mut got).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{extra:?}"
            );
        }
        assert!(head
            .tail()
            .starts_with(b" HTTP/1.1\r\nhost: 127.0.0.1:8080\r\n"));
    }
}
