use super::*;
use crate::core::acks::{Acks, Unresolved};

fn m(publisher: u32, seq: u64) -> Marker {
    Marker {
        run_id: 7,
        publisher,
        seq,
        scheduled_us: 1_000,
    }
}

fn set(xs: &[u64]) -> RangeSet {
    let mut s = RangeSet::default();
    for &x in xs {
        s.insert(x);
    }
    s
}

#[test]
fn duplicates_reorders_losses_and_unexpected() {
    let shards = LatencyShards::new(2);
    let mut t = Tally::new(7, 2, 0);
    // Publisher 0 sends 0..6: 2 is lost, 4 arrives after 5, 1 twice.
    for seq in [0, 1, 1, 3, 5, 4, 6] {
        t.record(&m(0, seq), 1_500, &shards, &Unresolved);
    }
    // Publisher 1: 0 and 1, plus 2, whose publish was never acknowledged.
    for seq in [0, 1, 2] {
        t.record(&m(1, seq), 1_500, &shards, &Unresolved);
    }
    // Another run's marker and an unknown publisher.
    assert!(!t.record(
        &Marker {
            run_id: 8,
            ..m(0, 9)
        },
        1_500,
        &shards,
        &Unresolved
    ));
    assert!(!t.record(&m(5, 0), 1_500, &shards, &Unresolved));
    let published = [set(&[0, 1, 2, 3, 4, 5, 6]), set(&[0, 1])];
    let s = t.finish(&published, &shards, None, &[]);
    assert_eq!(
        s,
        TallySummary {
            delivered: 6 + 2,
            unexpected: 1 + 1,
            duplicated: 1,
            reordered: 1,
            other_runs: 1,
            unmarked: 0,
            ..TallySummary::default()
        }
    );
    let h = shards.merged();
    assert_eq!(
        h.len(),
        s.delivered,
        "latency only for deliveries that count: publisher 1's seq 2 was never accepted"
    );
    assert_eq!(h.max(), 500);
}

#[test]
fn live_acks_keep_a_failed_publish_out_of_latency() {
    let shards = LatencyShards::new(1);
    let acks = Acks::new(1);
    let mut t = Tally::new(7, 1, 0);
    acks.resolve(0, 0, true);
    // Seq 1 arrives before its POST is answered: pending, then refused.
    assert!(t.record(&m(0, 0), 1_100, &shards, &acks));
    assert!(t.record(&m(0, 1), 9_000, &shards, &acks));
    acks.resolve(0, 1, false);
    acks.resolve(0, 2, true);
    assert_eq!(acks.status(0, 1), Some(false));
    assert_eq!(acks.status(0, 2), Some(true));
    assert_eq!(acks.status(0, 3), None);
    assert!(t.record(&m(0, 2), 1_200, &shards, &acks));
    let s = t.finish(&[set(&[0, 2])], &shards, None, &[]);
    assert_eq!((s.delivered, s.unexpected), (2, 1));
    let h = shards.merged();
    assert_eq!(h.len(), 2);
    assert_eq!(h.max(), 200, "the refused message's 8 ms is not recorded");
}

#[test]
fn acks_resolve_out_of_order_and_travel_as_snapshots() {
    let acks = Acks::new(2);
    acks.resolve(1, 1, true);
    assert_eq!(acks.status(1, 1), None, "0 is still in flight");
    acks.resolve(1, 0, false);
    assert_eq!(acks.status(1, 0), Some(false));
    assert_eq!(acks.status(1, 1), Some(true));
    let copy = Acks::new(2);
    copy.apply(&acks.snapshot());
    assert_eq!(copy.status(1, 0), Some(false));
    assert_eq!(copy.status(1, 1), Some(true));
    assert_eq!(copy.status(0, 0), None);
}

#[test]
fn pending_stays_linear_and_resolves() {
    let shards = LatencyShards::new(1);
    let acks = Acks::new(1);
    let mut t = Tally::new(7, 1, 0);
    for seq in 0..1_000 {
        t.record(&m(0, seq), 1_010, &shards, &acks);
    }
    assert_eq!(t.pending.len(), 1_000);
    for seq in 0..1_000 {
        acks.resolve(0, seq, seq % 10 != 3);
    }
    t.resolve_pending(&acks, &shards);
    assert!(t.pending.is_empty());
    t.flush(&shards);
    assert_eq!(shards.merged().len(), 900);
}

#[test]
fn an_own_tally_counts_only_its_publisher() {
    let shards = LatencyShards::new(1);
    let mut t = Tally::own(7, 3, 0);
    assert!(t.record(&m(3, 0), 1_500, &shards, &Unresolved));
    assert!(!t.record(&m(2, 0), 1_500, &shards, &Unresolved));
    assert!(!t.record(&m(4, 1), 1_500, &shards, &Unresolved));
    assert!(t.record(&m(3, 2), 1_500, &shards, &Unresolved));
    let s = t.finish(&[set(&[0, 1, 2])], &shards, None, &[]);
    assert_eq!((s.delivered, s.unexpected), (2, 2));
}

#[test]
fn a_room_tally_expects_its_rooms_publishers_only() {
    let shards = LatencyShards::new(1);
    // 7 publishers in 3 rooms: room 1 has publishers 1 and 4.
    let mut t = Tally::in_room(7, 7, 3, 1, 0);
    assert_eq!(t.publishers.len(), 2);
    let acks = Acks::new(7);
    acks.resolve(4, 0, true);
    assert!(t.record(&m(1, 0), 1_100, &shards, &acks));
    assert!(t.record(&m(4, 0), 1_200, &shards, &acks));
    assert!(t.record(&m(4, 1), 1_300, &shards, &acks));
    // Rooms 0 and 2 leak into room 1; publisher 7 does not exist.
    assert!(!t.record(&m(0, 0), 1_100, &shards, &acks));
    assert!(!t.record(&m(5, 0), 1_100, &shards, &acks));
    assert!(!t.record(&m(7, 0), 1_100, &shards, &acks));
    let mut published = vec![RangeSet::default(); 7];
    published[1] = set(&[0, 1]);
    published[4] = set(&[0]);
    let s = t.finish(&published, &shards, None, &[]);
    // Publisher 4's seq 1 was never acknowledged: unexpected.
    assert_eq!((s.delivered, s.unexpected), (2, 3 + 1));
    assert_eq!(shards.merged().len(), 2);
    // The last room may have one publisher fewer.
    assert_eq!(Tally::in_room(7, 7, 3, 2, 0).publishers.len(), 2);
    assert_eq!(Tally::in_room(7, 7, 3, 0, 0).publishers.len(), 3);
}

#[test]
fn a_churned_subscriber_expects_what_was_scheduled_while_it_was_there() {
    // 10 msg/s from Unix second 100, 2 publishers: message k is due at
    // 100 s + k/10 and is publisher k % 2's seq k / 2.
    let schedule = Schedule::constant(10.0, 3.0);
    let mut lost = LostBySecond {
        schedule: &schedule,
        publishers: 2,
        t0_s: 100,
        timeline: Timeline::default(),
        guard_us: 200_000,
    };
    let shards = LatencyShards::new(1);
    let mut t = Tally::new(7, 2, 0);
    // Away from 100.95 s to 101.55 s: k 10..15 absent; the guard takes
    // k 8, 9 (before leaving) and 16, 17 (after rejoining).
    let gaps = [(100_950_000, Some(101_550_000))];
    // It received everything but k 3 and k 20 (expected, so lost),
    // k 9 (boundary) and, of course, the absent ones.
    for k in (0..30u64).filter(|k| ![3, 9, 20].contains(k) && !(10..16).contains(k)) {
        t.record(&m((k % 2) as u32, k / 2), 1_500, &shards, &Unresolved);
    }
    let acked = [
        set(&(0..15).collect::<Vec<_>>()),
        set(&(0..15).collect::<Vec<_>>()),
    ];
    let s = t.finish(&acked, &shards, Some(&mut lost), &gaps);
    assert_eq!(s.expected, 30 - 6 - 4);
    assert_eq!(s.boundary, 4);
    assert_eq!(s.lost, 2);
    assert_eq!(
        s.delivered,
        30 - 6 - 3,
        "boundary arrivals count as delivered"
    );
    let e = lost.timeline.entries(100);
    let lost_at: Vec<(i64, u64)> = e.iter().map(|e| (e.t_s, e.lost)).collect();
    assert_eq!(lost_at, [(0, 1), (1, 0), (2, 1)]);
    // Not back by the end: everything from the leave on is absent.
    let t = Tally::new(7, 2, 0);
    let s = t.finish(&acked, &shards, Some(&mut lost), &[(102_000_000, None)]);
    assert_eq!((s.expected, s.boundary, s.lost), (18, 2, 18));
}

#[test]
fn latency_is_clamped_at_zero() {
    let shards = LatencyShards::new(1);
    let mut t = Tally::new(7, 1, 0);
    t.record(&m(0, 0), 10, &shards, &Unresolved);
    t.finish(&[set(&[0])], &shards, None, &[]);
    assert_eq!(shards.merged().max(), 0);
}
