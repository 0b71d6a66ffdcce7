//! Bayeux publishers (`--transport bayeux` without `--publish-url`): each
//! handshakes once, then sends its messages as publish messages on
//! `--bayeux-channel`, over the run's `--bayeux-transport` (a `POST` each,
//! or frames on one WebSocket), one at a time: the next is sent once the
//! server has answered the last, so the server accepts them in order.
//!
//! A message counts as published when the server answers it
//! `successful:true`; `successful:false` is a failed publish
//! (`publish_bayeux_refused`), exactly like a refused `POST`. A server that
//! no longer knows the publisher (an unknown client: after a restart, or a
//! CometD session expired for want of `/meta/connect`s, which publishers do
//! not send) is handshaken again and the message sent
//! once more (it was not published, so this cannot duplicate it), counted as
//! `publisher_bayeux_rehandshake`. Publisher sockets are counted apart from
//! the subscribers', and left out of the run's figures.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use tokio::time::Instant;

use crate::config::plan::Plan;
use crate::core::error::Kind;
use crate::core::schedule;
use crate::net::count::SubIo;
use crate::proto::bayeux;
use crate::roles::publish::{due, send_deadline, PubEnv, PubReport};
use crate::roles::reconnect::Reconnect;
use crate::roles::subscribe::bayeux::{exchange, handshake, open_link, Link};

/// A publisher's handshaken Bayeux client.
pub(crate) struct BayeuxPub {
    link: Link,
    client_id: String,
    next_id: u64,
    /// Counts the publisher's own sockets (never added to the run's).
    io: Arc<SubIo>,
    /// The publisher's index.
    p: usize,
}

/// Opens publisher `p`'s connection and handshakes.
pub(crate) async fn connect(plan: &Plan, addr: SocketAddr, p: usize) -> Result<BayeuxPub, Kind> {
    let bx = plan.bayeux.as_ref().ok_or(Kind::Borrowed("internal"))?;
    let io = Arc::new(SubIo::default());
    let vars = plan.pub_vars(p);
    let mut link = open_link(plan, bx, &vars, addr, &io).await?;
    let target = plan.publish.target();
    let (client_id, _) = handshake(&mut link, plan, target, &vars, &io, &mut |_| {}).await?;
    Ok(BayeuxPub {
        link,
        client_id,
        next_id: 1,
        io,
        p,
    })
}

impl BayeuxPub {
    /// Publishes `data` (JSON text) on `channel` and waits for the answer.
    async fn publish(&mut self, plan: &Plan, channel: &str, data: &str) -> Result<(), Kind> {
        self.next_id += 1;
        let id = self.next_id;
        let body = bayeux::publish(id, &self.client_id, channel, data)
            .ok_or(Kind::Borrowed("bayeux_data_not_json"))?;
        let target = plan.publish.target();
        let reply = exchange(
            &mut self.link,
            plan,
            target,
            &plan.pub_vars(self.p),
            &self.io,
            body,
            id,
            plan.timeout,
            &mut |_| {},
        )
        .await?;
        if reply.successful {
            Ok(())
        } else if reply.unknown_client() {
            Err(Kind::Borrowed("bayeux_unknown_client"))
        } else {
            tracing::debug!(channel, error = reply.why(), "publish refused");
            Err(Kind::Borrowed("bayeux_refused"))
        }
    }

    /// Handshakes again on the same connection.
    async fn rehandshake(&mut self, plan: &Plan) -> Result<(), Kind> {
        let target = plan.publish.target();
        let vars = plan.pub_vars(self.p);
        let (client_id, _) =
            handshake(&mut self.link, plan, target, &vars, &self.io, &mut |_| {}).await?;
        self.client_id = client_id;
        Ok(())
    }
}

/// Whether a failed publish leaves the connection usable.
fn connection_kept(kind: &str) -> bool {
    matches!(kind, "bayeux_refused" | "bayeux_data_not_json")
}

/// Publisher `p` (`conn`: its client, handshaken beforehand when possible).
pub(crate) async fn run(
    env: Arc<PubEnv>,
    p: usize,
    t0: Instant,
    mut conn: Option<BayeuxPub>,
) -> PubReport {
    let plan = &env.plan;
    let mut report = PubReport::default();
    let Some(bx) = plan.bayeux.as_ref() else {
        report.failed(&env.live, "internal");
        return report;
    };
    let vars = plan.pub_vars(p);
    let channel = bx.channel.render(&vars, "");
    let end = send_deadline(&env, t0);
    let mut reconnect = Reconnect::new();
    let count = schedule::messages_for(p, plan.publishers, plan.total_messages);
    let mut i = 0;
    while i < count {
        let Some(marker) = due(&env, t0, p, i).await else {
            break;
        };
        // No connection: keep the message and retry until it can be sent
        // (late, its scheduled time kept) or the send deadline passes.
        let open = || connect(plan, env.addr, p);
        let failed = |kind: &Kind| report.connect_failed(&env.live, kind);
        if !reconnect
            .ensure(&mut conn, &env.stop, end, open, failed)
            .await
        {
            break;
        }
        let Some(c) = conn.as_mut() else { break };
        report.attempted += 1;
        i += 1;
        let payload = marker.payload(plan.payload_bytes);
        let len = payload.len();
        let data = match &plan.publish_template {
            Some(t) => t.render(&vars, &payload),
            None => bayeux::default_data(&payload),
        };
        let mut result = c.publish(plan, &channel, &data).await;
        if matches!(&result, Err(k) if k == "bayeux_unknown_client") {
            env.live.errors.fetch_add(1, Relaxed);
            report
                .errors
                .add(Kind::Borrowed("publisher_bayeux_rehandshake"));
            result = match c.rehandshake(plan).await {
                Ok(()) => c.publish(plan, &channel, &data).await,
                Err(kind) => Err(kind),
            };
        }
        env.acks.resolve(p, marker.seq, result.is_ok());
        match result {
            Ok(()) => report.ok(&env.live, marker.seq, len),
            Err(kind) => {
                report.failed(&env.live, &kind);
                if !connection_kept(&kind) {
                    conn = None;
                    reconnect.lost();
                }
            }
        }
    }
    // Messages whose time came but that could not be sent before the
    // deadline (not those a Ctrl-C kept from falling due).
    if !env.stop.is_cancelled() {
        for seq in i..count {
            report.attempted += 1;
            report.failed(&env.live, "unsent");
            env.acks.resolve(p, seq, false);
        }
    }
    report
}
