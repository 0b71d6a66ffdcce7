//! Each transport's message path, drawn once as four small sequence
//! diagrams (browser on the left, server on the right, time downwards): a
//! WebSocket frame on the open connection; an SSE event on the open
//! response; a long poll's answer and the next request it forces; short
//! polls every interval, mostly empty. Generated here, from the same code
//! every report runs, with the measured bytes per delivered message of the
//! report's runs under each panel where there is one.

use super::{color, finish, xml_escape, Chart};
use crate::{fmt, ReportError, RunResult};

/// The chart's id.
pub const ID: &str = "message-paths";

const W: f64 = 800.0;
const PANEL_H: f64 = 250.0;
const TOP: f64 = 40.0;

/// One arrow of a panel: from the browser (`up`) or the server, at height
/// `y` (0..1 of the panel's timeline), its text, and whether it is the
/// message itself (drawn thick).
struct Arrow {
    up: bool,
    y: f64,
    text: &'static str,
    message: bool,
}

/// One transport's diagram.
struct Panel {
    transport: &'static str,
    title: &'static str,
    arrows: Vec<Arrow>,
    /// Where the message reaches the server (0..1), marked with a dot.
    published: f64,
    /// A held request: the server's side is shaded from..to.
    held: Option<(f64, f64)>,
}

fn up(y: f64, text: &'static str) -> Arrow {
    Arrow {
        up: true,
        y,
        text,
        message: false,
    }
}

fn down(y: f64, text: &'static str, message: bool) -> Arrow {
    Arrow {
        up: false,
        y,
        text,
        message,
    }
}

fn panels() -> [Panel; 4] {
    [
        Panel {
            transport: "ws",
            title: "WebSocket: one frame on the open connection",
            arrows: vec![
                up(0.05, "GET /ws, Upgrade (once)"),
                down(0.2, "101 Switching Protocols", false),
                down(0.7, "frame: 2 B header + payload", true),
            ],
            published: 0.62,
            held: None,
        },
        Panel {
            transport: "sse",
            title: "SSE: one event on the open response",
            arrows: vec![
                up(0.05, "GET /events (once)"),
                down(0.2, "200 text/event-stream", false),
                down(0.7, "id: n / data: payload", true),
            ],
            published: 0.62,
            held: None,
        },
        Panel {
            transport: "long-poll",
            title: "Long poll: the answer, then the next request",
            arrows: vec![
                up(0.05, "GET /messages?since=n + headers"),
                down(0.62, "200 + headers + payload", true),
                up(0.8, "GET ?since=n+1 + headers"),
            ],
            published: 0.55,
            held: Some((0.05, 0.55)),
        },
        Panel {
            transport: "short-poll",
            title: "Short poll: ask every interval, mostly nothing",
            arrows: vec![
                up(0.02, "GET + headers"),
                down(0.17, "200 [] (empty)", false),
                up(0.38, "GET + headers (1 interval later)"),
                down(0.53, "200 [] (empty)", false),
                up(0.74, "GET + headers"),
                down(0.9, "200 + headers + payload", true),
            ],
            published: 0.62,
            held: None,
        },
    ]
}

/// Draws the four panels; `runs` (one per transport) give the measured
/// bytes per delivered message printed under each.
pub fn chart(runs: &[RunResult]) -> Result<Chart, ReportError> {
    let title = "Each transport's message path".to_string();
    let measured = |t: &str| {
        runs.iter()
            .find(|r| r.transport == t)
            .and_then(|r| r.bytes_per_delivered)
    };
    let height = TOP + 2.0 * PANEL_H + 10.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{height}\" viewBox=\"0 0 {W} {height}\" font-family=\"sans-serif\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"24\" font-size=\"17\" text-anchor=\"middle\">{}</text>\n",
        W / 2.0,
        xml_escape(&title)
    );
    for (i, p) in panels().iter().enumerate() {
        let x0 = (i % 2) as f64 * W / 2.0;
        let y0 = TOP + (i / 2) as f64 * PANEL_H;
        svg.push_str(&panel(p, x0, y0, measured(p.transport)));
    }
    svg.push_str("</svg>\n");
    let reading = reading(runs);
    Ok(Chart {
        id: ID,
        title: title.clone(),
        reading,
        svg: finish(ID, &title, svg)?,
    })
}

/// One panel at (`x0`, `y0`).
fn panel(p: &Panel, x0: f64, y0: f64, measured: Option<f64>) -> String {
    let c = color(p.transport, 0);
    let stroke = format!("rgb({},{},{})", c.0, c.1, c.2);
    let (left, right) = (x0 + 60.0, x0 + W / 2.0 - 60.0);
    let (t0, t1) = (y0 + 44.0, y0 + PANEL_H - 34.0);
    let at = |f: f64| t0 + f * (t1 - t0);
    let mut s = format!(
        "<g id=\"{ID}-{t}\">\n<text x=\"{cx}\" y=\"{ty}\" font-size=\"14\" font-weight=\"bold\" text-anchor=\"middle\" fill=\"{stroke}\">{title}</text>\n\
         <text x=\"{left}\" y=\"{ly}\" font-size=\"12\" text-anchor=\"middle\">browser</text>\n\
         <text x=\"{right}\" y=\"{ly}\" font-size=\"12\" text-anchor=\"middle\">server</text>\n\
         <line x1=\"{left}\" y1=\"{t0}\" x2=\"{left}\" y2=\"{t1}\" stroke=\"#999\"/>\n\
         <line x1=\"{right}\" y1=\"{t0}\" x2=\"{right}\" y2=\"{t1}\" stroke=\"#999\"/>\n",
        t = p.transport,
        cx = x0 + W / 4.0,
        ty = y0 + 16.0,
        title = xml_escape(p.title),
        ly = y0 + 36.0,
    );
    if let Some((a, b)) = p.held {
        s.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"8\" height=\"{}\" fill=\"{stroke}\" fill-opacity=\"0.25\"/>\n\
             <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\" fill=\"#555\">held</text>\n",
            right - 4.0,
            at(a),
            at(b) - at(a),
            right - 8.0,
            (at(a) + at(b)) / 2.0 + 20.0,
        ));
    }
    s.push_str(&format!(
        "<circle cx=\"{right}\" cy=\"{}\" r=\"5\" fill=\"black\"/>\n<text x=\"{}\" y=\"{}\" font-size=\"11\">message</text>\n",
        at(p.published),
        right + 8.0,
        at(p.published) + 4.0,
    ));
    for a in &p.arrows {
        let (from, to) = if a.up { (left, right) } else { (right, left) };
        let y = at(a.y);
        let (width, colour) = if a.message {
            (3.0, stroke.as_str())
        } else {
            (1.3, "#444")
        };
        // The head: a triangle at `to`, pointing the arrow's way.
        let back = if a.up { to - 10.0 } else { to + 10.0 };
        s.push_str(&format!(
            "<polygon points=\"{to},{y} {back},{} {back},{}\" fill=\"{colour}\"/>\n",
            y - 5.0,
            y + 5.0
        ));
        s.push_str(&format!(
            "<line x1=\"{from}\" y1=\"{y}\" x2=\"{back}\" y2=\"{y}\" stroke=\"{colour}\" stroke-width=\"{width}\"/>\n\
             <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>\n",
            (left + right) / 2.0,
            y - 5.0,
            xml_escape(a.text),
        ));
    }
    if let Some(b) = measured {
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#333\">measured: {} B per delivered message</text>\n",
            x0 + W / 4.0,
            y0 + PANEL_H - 12.0,
            fmt::sig3(b),
        ));
    }
    s.push_str("</g>\n");
    s
}

/// What the panels show, with the measured bytes where known.
fn reading(runs: &[RunResult]) -> String {
    let measured: Vec<String> = ["ws", "sse", "long-poll", "short-poll"]
        .iter()
        .filter_map(|t| runs.iter().find(|r| r.transport == *t))
        .filter_map(|r| {
            Some(format!(
                "{} {} B",
                r.transport,
                fmt::sig3(r.bytes_per_delivered?)
            ))
        })
        .collect();
    let mut s = "A pushed message is one frame or one event on a connection already open; \
                 a polled one rides on an HTTP answer with its headers, and a long poll's \
                 answer forces the next request."
        .to_string();
    if !measured.is_empty() {
        s.push_str(&format!(
            " Measured per delivered message: {}.",
            fmt::and_list(&measured)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transport_is_drawn_once_with_its_message_arrow() {
        let c = chart(&[]).unwrap();
        for t in ["ws", "sse", "long-poll", "short-poll"] {
            assert_eq!(c.svg.matches(&format!("id=\"{ID}-{t}\"")).count(), 1, "{t}");
        }
        // One thick message arrow per panel.
        assert_eq!(c.svg.matches("stroke-width=\"3\"").count(), 4);
        assert!(!c.svg.contains("measured:"));
        assert!(c.svg.starts_with("<svg "));
    }
}
