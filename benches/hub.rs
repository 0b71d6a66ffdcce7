//! The hub's hot path: publish one message, then every subscriber's cursor
//! picks it up. One element = one delivery, so criterion's throughput is
//! deliveries per second and the time per element is the fan-out cost per
//! subscriber.

use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pushpoll_server::hub::Hub;
use pushpoll_wire::Kind;

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout");
    for subscribers in [1usize, 100, 10_000] {
        let hub = Hub::new(1024);
        let mut subs: Vec<_> = (0..subscribers).map(|_| hub.subscribe(None)).collect();
        let payload = Bytes::from(vec![b'x'; 64]);
        let mut out: Vec<Arc<_>> = Vec::with_capacity(16);
        group.throughput(Throughput::Elements(subscribers as u64));
        group.bench_with_input(
            BenchmarkId::new("publish_and_deliver", subscribers),
            &subscribers,
            |b, _| {
                b.iter(|| {
                    hub.publish(Kind::Text, payload.clone());
                    for s in subs.iter_mut() {
                        out.clear();
                        s.try_recv(&mut out, 16);
                    }
                    out.len()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
