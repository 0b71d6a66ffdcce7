//! `GET /messages`: short polling (answer at once) and long polling (hold
//! until a message or `wait` seconds).

use std::sync::Arc;

use http::{Response, StatusCode};
use pushpoll_wire::poll::{ErrorBody, PollResponse, PolledMessage};
use pushpoll_wire::query::{PollQuery, QueryError};

use crate::hub::{Gap, Message, Snapshot};
use crate::metrics::Transport;
use crate::response::{self, Body};
use crate::Shared;

/// Answers one poll. `transport` is `ShortPoll` or `LongPoll` (decided by
/// the router from `wait`).
pub(crate) async fn poll(
    query: Result<PollQuery, QueryError>,
    transport: Transport,
    shared: &Arc<Shared>,
) -> Response<Body> {
    let query = match query {
        Ok(q) => q,
        Err(e) => return response::error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let _open = shared.metrics.open(transport);
    let hub = &shared.hub;
    let Some(since) = query.since else {
        // No resume point: tell the client where "now" is.
        return answer(Vec::new(), hub.snapshot(), transport, shared);
    };
    let mut messages = Vec::new();
    let mut read = hub.read_after(since, shared.limits.max_poll_batch, &mut messages);
    if let (Ok(_), true, Some(hold)) = (
        &read,
        messages.is_empty(),
        query.hold(shared.limits.long_poll_max),
    ) {
        tokio::select! {
            () = hub.wait_for_seq(since.saturating_add(1)) => {}
            () = tokio::time::sleep(hold) => {}
            () = shared.shutdown.raised() => {}
        }
        read = hub.read_after(since, shared.limits.max_poll_batch, &mut messages);
    }
    match read {
        Ok(snapshot) => answer(messages, snapshot, transport, shared),
        Err(gap) => {
            shared.metrics.gap_notices.add(transport, 1);
            gap_answer(gap)
        }
    }
}

fn answer(
    messages: Vec<Arc<Message>>,
    snapshot: Snapshot,
    transport: Transport,
    shared: &Shared,
) -> Response<Body> {
    shared
        .metrics
        .deliveries
        .add(transport, messages.len() as u64);
    let body = PollResponse {
        messages: messages
            .iter()
            .map(|m| PolledMessage::new(m.seq(), m.kind(), &m.payload()))
            .collect(),
        last_seq: snapshot.last_seq,
        oldest_seq: snapshot.oldest_seq,
        more: snapshot.more,
    };
    response::json(StatusCode::OK, &body)
}

/// `410 Gone` for a `since` older than history, `409 Conflict` for one
/// ahead of `last_seq`, each with the numbers needed to resume.
fn gap_answer(gap: Gap) -> Response<Body> {
    if gap.is_ahead() {
        response::json(
            StatusCode::CONFLICT,
            &ErrorBody {
                error: format!(
                    "since={} is ahead of last_seq={} (the server restarted?): resume with since={}",
                    gap.requested_since, gap.last_seq, gap.last_seq
                ),
                oldest_seq: None,
                last_seq: Some(gap.last_seq),
            },
        )
    } else {
        response::json(
            StatusCode::GONE,
            &ErrorBody {
                error: format!(
                    "since={} is older than the history, which starts at oldest_seq={}: resume with since={} and accept the gap",
                    gap.requested_since,
                    gap.oldest_seq,
                    gap.oldest_seq - 1
                ),
                oldest_seq: Some(gap.oldest_seq),
                last_seq: Some(gap.last_seq),
            },
        )
    }
}
