//! Encode and decode of every format on the wire: the in-payload marker, the
//! `pushpoll.v1` frame, SSE events, poll JSON, and a long poll's
//! parse-and-answer (query parsing, reading history, the JSON body).

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pushpoll_server::hub::Hub;
use pushpoll_wire::marker::Marker;
use pushpoll_wire::poll::{PollResponse, PolledMessage};
use pushpoll_wire::query::PollQuery;
use pushpoll_wire::{frame, sse, Kind};

const MARKER: Marker = Marker {
    run_id: 0x1234_5678,
    publisher: 3,
    seq: 987_654,
    scheduled_us: 1_764_000_000_000_000,
};

fn marker(c: &mut Criterion) {
    let mut g = c.benchmark_group("marker");
    for size in [64usize, 1024, 16 * 1024] {
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("encode", size), &size, |b, &size| {
            b.iter(|| MARKER.payload(size))
        });
        // Wrapped as socket.io would, so `find` has to search.
        let wrapped = format!("42[\"chat message\",\"{}\"]", MARKER.payload(size));
        g.bench_with_input(BenchmarkId::new("find_wrapped", size), &wrapped, |b, w| {
            b.iter(|| Marker::find(w.as_bytes()))
        });
    }
    g.finish();
}

fn frames(c: &mut Criterion) {
    let mut g = c.benchmark_group("v1_frame");
    let payload = MARKER.payload(64);
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("encode", 64), |b| {
        b.iter(|| frame::encode_message(42, Kind::Text, payload.as_bytes()))
    });
    let encoded = frame::encode_message(42, Kind::Text, payload.as_bytes());
    g.bench_function(BenchmarkId::new("decode", 64), |b| {
        b.iter(|| frame::decode(&encoded))
    });
    g.finish();
}

fn sse_events(c: &mut Criterion) {
    let mut g = c.benchmark_group("sse");
    let payload = MARKER.payload(64);
    g.throughput(Throughput::Elements(100));
    g.bench_function(BenchmarkId::new("write", 100), |b| {
        let mut out = Vec::with_capacity(16 * 1024);
        b.iter(|| {
            out.clear();
            for seq in 0..100 {
                sse::write_message(&mut out, seq, Kind::Text, payload.as_bytes());
            }
            out.len()
        })
    });
    let mut stream = Vec::new();
    for seq in 0..100 {
        sse::write_message(&mut stream, seq, Kind::Text, payload.as_bytes());
    }
    g.bench_function(BenchmarkId::new("parse", 100), |b| {
        let mut events = Vec::with_capacity(100);
        b.iter(|| {
            let mut p = sse::Parser::new(1 << 20);
            events.clear();
            p.feed(&stream, &mut events).expect("valid stream");
            events.len()
        })
    });
    g.finish();
}

fn poll_json(c: &mut Criterion) {
    let mut g = c.benchmark_group("poll_json");
    for batch in [1usize, 10, 100] {
        let payload = MARKER.payload(64);
        let resp = PollResponse {
            messages: (0..batch as u64)
                .map(|seq| PolledMessage::new(seq + 1, Kind::Text, payload.as_bytes()))
                .collect(),
            last_seq: batch as u64,
            oldest_seq: 1,
            more: false,
        };
        let json = serde_json::to_vec(&resp).expect("serialisable");
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_with_input(BenchmarkId::new("encode", batch), &resp, |b, r| {
            b.iter(|| serde_json::to_vec(r).expect("serialisable"))
        });
        g.bench_with_input(BenchmarkId::new("decode", batch), &json, |b, j| {
            b.iter(|| serde_json::from_slice::<PollResponse>(j).expect("valid"))
        });
    }
    g.finish();
}

/// What the server does per long-poll answer once a message exists: parse
/// the query, read history after `since`, write the JSON body.
fn long_poll_answer(c: &mut Criterion) {
    let mut g = c.benchmark_group("long_poll");
    let hub = Hub::new(1024);
    let payload = Bytes::from(MARKER.payload(64));
    for _ in 0..100 {
        hub.publish(Kind::Text, payload.clone());
    }
    for batch in [1u64, 10] {
        let query = format!("since={}&wait=30", 100 - batch);
        g.throughput(Throughput::Elements(batch));
        g.bench_with_input(
            BenchmarkId::new("parse_and_answer", batch),
            &query,
            |b, q| {
                let mut out = Vec::with_capacity(16);
                b.iter(|| {
                    let q = PollQuery::parse(q).expect("valid query");
                    out.clear();
                    let snap = hub
                        .read_after(q.since.unwrap_or(0), 1000, &mut out)
                        .expect("in history");
                    let resp = PollResponse {
                        messages: out
                            .iter()
                            .map(|m| PolledMessage::new(m.seq(), m.kind(), &m.payload()))
                            .collect(),
                        last_seq: snap.last_seq,
                        oldest_seq: snap.oldest_seq,
                        more: snap.more,
                    };
                    serde_json::to_vec(&resp).expect("serialisable")
                })
            },
        );
    }
    g.finish();
}

criterion_group!(
    benches,
    marker,
    frames,
    sse_events,
    poll_json,
    long_poll_answer
);
criterion_main!(benches);
