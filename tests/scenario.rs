//! `pushpoll load --scenario FILE.toml` as the binary reads its arguments:
//! every key a `load` option (the verdict's `slo` included), the command
//! line replacing the file.

use clap::Parser as _;
use pushpoll::cli::{args_with_scenario, Cli, Command};
use pushpoll_testkit::TempFile;

fn load_args(file: &TempFile, extra: &[&str]) -> Vec<std::ffi::OsString> {
    let mut v: Vec<std::ffi::OsString> = vec![
        "pushpoll".into(),
        "load".into(),
        "--scenario".into(),
        file.path().into(),
    ];
    v.extend(extra.iter().map(Into::into));
    v
}

#[test]
fn a_scenario_file_is_the_load_command_line() {
    let file = TempFile::new(
        "chat.toml",
        r#"
url = "ws://127.0.0.1:9/ws"
subscribers = 40
rooms = 4
on-connect = ['send:{"join":"room-{room}"}', "expect:joined"]
publish-template = '{"text":"{marker}"}'
slo = "loss=0"
"#,
    );
    let args = args_with_scenario(load_args(&file, &["--subscribers", "8"])).unwrap();
    let Command::Load(cmd) = Cli::try_parse_from(args).unwrap().command else {
        panic!("not a load command");
    };
    assert_eq!(cmd.opts.url, "ws://127.0.0.1:9/ws");
    assert_eq!((cmd.opts.subscribers, cmd.opts.rooms), (8, Some(4)));
    assert_eq!(cmd.opts.on_connect.len(), 2);
    assert!(cmd.slo.is_some());

    // Other subcommands and runs without a scenario pass through untouched.
    let plain: Vec<std::ffi::OsString> = vec!["pushpoll".into(), "serve".into()];
    assert_eq!(args_with_scenario(plain.clone()).unwrap(), plain);
}

#[test]
fn every_committed_example_scenario_parses() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut n = 0;
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        n += 1;
        let args: Vec<std::ffi::OsString> = vec![
            "pushpoll".into(),
            "load".into(),
            "--scenario".into(),
            path.clone().into(),
        ];
        let args = args_with_scenario(args).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let cmd = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let Command::Load(cmd) = cmd.command else {
            panic!("not a load command");
        };
        assert!(!cmd.opts.url.is_empty(), "{}", path.display());
    }
    assert!(n > 0 || !dir.exists());
}
