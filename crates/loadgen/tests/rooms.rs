//! Rooms, per-user values and per-connection URLs: a room server that
//! relays within the room a connection's URL names, and checks a per-user
//! token, measured exactly per room.

use std::collections::HashMap;

use pushpoll_loadgen::{run, Hooks};
use pushpoll_testkit::TempFile;

use crate::support::ws_relay::{Relay, Rules};
use crate::support::{never, opts};

/// A `--users` file for `n` connections (a quoted token holds a comma).
fn users_file(n: usize) -> TempFile {
    let mut csv = String::from("name,token\n");
    for i in 0..n {
        csv.push_str(&format!("user{i},\"tok,{i}\"\n"));
    }
    TempFile::new("users.csv", &csv)
}

/// The error a run with these options stops with, before it starts.
fn run_error(args: Vec<&str>) -> impl std::future::Future<Output = String> + 'static {
    let o = opts(&args);
    async move {
        run(&o, Hooks::default(), never())
            .await
            .unwrap_err()
            .to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_users_and_url_placeholders_are_exact_per_room() {
    // Publisher 1 (room 1)'s first message never reaches anyone.
    let relay = Relay::start(Rules {
        rooms_by_path: true,
        drop_any: [(1, 0)].into_iter().collect(),
        ..Rules::default()
    })
    .await;
    let users = users_file(6);
    let users = users.path();
    let url = format!("ws://{}/rooms/{{room}}?user={{user.name}}", relay.addr);
    let o = opts(&[
        "--url",
        &url,
        "--subscribers",
        "4",
        "--rooms",
        "2",
        "--users",
        users,
        "--header",
        "Authorization: Bearer {user.token}",
        "--rate",
        "20",
        "--duration",
        "0.2",
        "--grace",
        "1",
    ]);
    let r = run(&o, Hooks::default(), never()).await.unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    // Two publishers by default, one per room, two messages each; every
    // message reaches its room's two subscribers but for the dropped one.
    assert_eq!((r.publishers, r.published), (2, 4));
    assert_eq!(r.expected_deliveries, 2 * 2 * 2);
    assert_eq!((r.delivered, r.lost, r.unexpected), (6, 2, 0));
    assert_eq!(r.latency_us.count, 6);

    // Every connection asked for its room's path as its own user, with
    // that user's token: subscribers 0..3 then publishers 4 and 5.
    let mut seen: HashMap<String, (String, String)> = HashMap::new();
    for c in relay.all_conns() {
        let target = c.target.lock().unwrap().clone().unwrap();
        let auth = c.headers.lock().unwrap().as_ref().unwrap()["authorization"]
            .to_str()
            .unwrap()
            .to_owned();
        let (path, user) = target.split_once("?user=").unwrap();
        seen.insert(user.to_owned(), (path.to_owned(), auth));
    }
    let want: HashMap<String, (String, String)> = (0..6)
        .map(|id| {
            let room = if id < 4 { id % 2 } else { (id - 4) % 2 };
            (
                format!("user{id}"),
                (format!("/rooms/{room}"), format!("Bearer tok,{id}")),
            )
        })
        .collect();
    assert_eq!(seen, want);
}

#[tokio::test]
async fn users_and_rooms_are_checked_before_the_run() {
    let err = |args: &[&str]| {
        let mut v = vec!["--subscribers", "4"];
        if !args.contains(&"--url") {
            v.extend(["--url", "ws://127.0.0.1:9/ws"]);
        }
        v.extend_from_slice(args);
        run_error(v)
    };
    let users = users_file(4);
    let users = users.path();
    let e = err(&["--users", users, "--header", "X-Token: {user.token}"]).await;
    assert!(
        e.contains("has 4 data rows, but the run has 5 connections"),
        "{e}"
    );
    let e = err(&["--users", users, "--on-connect", "send:{user.password}"]).await;
    assert!(
        e.contains("has no column \"password\" (its columns: name, token)"),
        "{e}"
    );
    let e = err(&["--on-connect", "send:{user.name}"]).await;
    assert!(e.contains("needs --users FILE.csv"), "{e}");
    let e = err(&["--rooms", "3", "--publishers", "2"]).await;
    assert!(
        e.starts_with("--publishers: 2 publishers for 3 rooms"),
        "{e}"
    );
    let e = err(&["--rooms", "5"]).await;
    assert!(
        e.starts_with("--rooms: must be between 1 and --subscribers (4)"),
        "{e}"
    );
    let e = err(&["--url", "ws://{room}.example/ws"]).await;
    assert!(
        e.contains("placeholders go in the path or the query"),
        "{e}"
    );
}

#[tokio::test]
async fn socketio_namespaces_auth_and_event_arrays_are_checked_before_the_run() {
    let err = |args: &[&str]| {
        let mut v = vec![
            "--url",
            "http://127.0.0.1:9",
            "--transport",
            "socket.io",
            "--subscribers",
            "2",
        ];
        v.extend_from_slice(args);
        run_error(v)
    };
    let e = err(&["--socketio-namespace", "chat"]).await;
    assert!(
        e.starts_with("--socketio-namespace: a namespace starts with /"),
        "{e}"
    );
    let e = err(&["--socketio-auth", "token={id}"]).await;
    assert!(
        e.starts_with("--socketio-auth: must be a JSON object"),
        "{e}"
    );
    let e = err(&["--on-connect", "send:join room-{room}"]).await;
    assert!(
        e.starts_with("--on-connect: with --transport socket.io it is an event array"),
        "{e}"
    );
    let e = err(&["--publish-template", r#"{"text":"{marker}"}"#]).await;
    assert!(
        e.starts_with("--publish-template: with --transport socket.io it is an event array"),
        "{e}"
    );
    let e = run_error(vec![
        "--url",
        "ws://127.0.0.1:9/ws",
        "--socketio-auth",
        "{}",
    ])
    .await;
    assert!(
        e.starts_with("--socketio-auth: only Socket.IO subscribers use it"),
        "{e}"
    );
}
