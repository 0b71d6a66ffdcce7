//! The generator's WebSocket client under Autobahn|Testsuite's `fuzzingserver`.
//!
//! Autobahn tests a *client* by having it echo: fetch the case count, then for
//! each case connect to `/runCase?case=N&agent=A` and send back every data
//! message as received (text as text, binary as binary) until the server
//! closes, then ask for `/updateReports`. The client here is built with the
//! same WebSocket configuration (`proto::ws`) every subscriber uses, so the
//! conformance report speaks for the load generator's own WebSocket stack.

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::core::error::LoadError;

/// Longest one Autobahn case may take before the client gives up on it.
const CASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// What the client did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AutobahnRun {
    /// Cases the server announced.
    pub cases: u32,
    /// Cases that ended with an error on the client's side (a protocol
    /// violation the client detected, a timeout); the report judges them.
    pub client_errors: u32,
}

/// Runs every case of the fuzzing server at `base` (e.g. `ws://127.0.0.1:9001`).
pub async fn run_client(base: &str, agent: &str) -> Result<AutobahnRun, LoadError> {
    let base = base.trim_end_matches('/');
    let bad = |reason: String| LoadError::InvalidOption {
        option: "url",
        reason,
    };
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(
        format!("{base}/getCaseCount"),
        Some(crate::proto::ws::config()),
        false,
    )
    .await
    .map_err(|e| {
        bad(format!(
            "cannot reach the Autobahn fuzzing server at {base}: {e}"
        ))
    })?;
    let mut cases = None;
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(Message::Text(t)) => cases = t.trim().parse::<u32>().ok(),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let cases = cases.ok_or_else(|| bad("the fuzzing server sent no case count".into()))?;
    let mut run = AutobahnRun {
        cases,
        client_errors: 0,
    };
    for case in 1..=cases {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        match tokio::time::timeout(CASE_TIMEOUT, echo(&url)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::info!(case, error = %e, "case ended with a client-side error");
                run.client_errors += 1;
            }
            Err(_) => {
                tracing::warn!(case, "case timed out");
                run.client_errors += 1;
            }
        }
    }
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("{base}/updateReports?agent={agent}"))
            .await
            .map_err(|e| bad(format!("cannot ask the fuzzing server for reports: {e}")))?;
    let _ = ws.close(None).await;
    while let Some(Ok(_)) = ws.next().await {}
    Ok(run)
}

/// Echoes every data message of one case until the server closes.
async fn echo(url: &str) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(url, Some(crate::proto::ws::config()), false)
            .await?;
    while let Some(msg) = ws.next().await {
        match msg? {
            m @ (Message::Text(_) | Message::Binary(_)) => ws.send(m).await?,
            Message::Close(_) => break,
            _ => {}
        }
    }
    // Finish the closing handshake tungstenite started by answering the Close.
    while let Some(Ok(_)) = ws.next().await {}
    Ok(())
}
