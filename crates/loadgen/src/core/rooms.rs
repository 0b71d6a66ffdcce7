//! Rooms (`--rooms N`): subscriber `i` is in room `i mod N`, publisher `j`
//! in room `j mod N`, and a message is expected by its room's subscribers
//! only. What a run expects is then a sum over rooms, not one product.

/// Connected subscribers per room, from their run-wide indexes.
pub(crate) fn connected_by_room(ids: impl Iterator<Item = usize>, rooms: usize) -> Vec<u64> {
    let rooms = rooms.max(1);
    let mut by_room = vec![0; rooms];
    for id in ids {
        by_room[id % rooms] += 1;
    }
    by_room
}

/// Adds `other`'s per-room counts (another worker's) into `into`.
pub(crate) fn add(into: &mut Vec<u64>, other: &[u64]) {
    if into.len() < other.len() {
        into.resize(other.len(), 0);
    }
    for (a, b) in into.iter_mut().zip(other) {
        *a += b;
    }
}

/// Deliveries expected when publisher `j` got `per_publisher[j]` messages
/// through: each reaches the connected subscribers of room `j mod rooms`.
pub(crate) fn deliveries(connected_by_room: &[u64], per_publisher: &[u64]) -> u64 {
    let rooms = connected_by_room.len().max(1);
    per_publisher
        .iter()
        .enumerate()
        .map(|(j, n)| connected_by_room.get(j % rooms).copied().unwrap_or(0) * n)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_is_summed_per_room() {
        // 10 subscribers in 3 rooms, subscriber 4 and 8 not connected.
        let by_room = connected_by_room([0, 1, 2, 3, 5, 6, 7, 9].into_iter(), 3);
        assert_eq!(by_room, [4, 2, 2]);
        // Publishers 0..4: rooms 0, 1, 2, 0.
        assert_eq!(
            deliveries(&by_room, &[10, 20, 5, 1]),
            4 * 10 + 2 * 20 + 2 * 5 + 4
        );
        // Without rooms it is connected × published.
        assert_eq!(deliveries(&[8], &[10, 20]), 8 * 30);
        let mut sum = vec![1, 2];
        add(&mut sum, &[1, 1, 1]);
        assert_eq!(sum, [2, 3, 1]);
    }
}
