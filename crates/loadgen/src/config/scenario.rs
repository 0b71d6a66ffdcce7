//! `--scenario FILE.toml`: a run's options kept in a file, for a server
//! whose protocol takes a dozen flags to speak (join steps, templates,
//! users) and that a team runs again and again.
//!
//! Every key is an option of `pushpoll load`, its long name without the
//! leading dashes (`publish-template`, or `publish_template`); a list is a
//! repeatable option given once per element; `true` turns a flag on. The
//! file is turned into command-line arguments and parsed by the same
//! parser as the command line, so a key means exactly what its flag means
//! and is checked the same way. An option given on the command line
//! replaces the file's (a list as a whole).
//!
//! ```toml
//! url = "ws://127.0.0.1:8080/ws"
//! subscribers = 200
//! on-connect = ['send:{"join":"room-{room}"}', "expect:joined"]
//! publish-template = '{"type":"say","text":"{marker}"}'
//! ```

use std::ffi::{OsStr, OsString};
use std::path::Path;

use clap::ArgAction;

use crate::core::error::LoadError;

/// Largest scenario file read, bytes.
pub const MAX_SCENARIO_BYTES: u64 = 1 << 20;

/// Keys a scenario may not set: the file itself, and internal flags.
const NOT_IN_A_SCENARIO: [&str; 2] = ["scenario", "worker"];

fn bad(reason: String) -> LoadError {
    LoadError::InvalidOption {
        option: "scenario",
        reason,
    }
}

/// Where `--scenario` names a file in `args` (the arguments after the
/// subcommand's name), if it does.
fn scenario_path(args: &[OsString]) -> Result<Option<OsString>, LoadError> {
    let mut found = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        let path = if s == "--scenario" {
            Some(
                it.next()
                    .ok_or_else(|| {
                        bad("needs a file, e.g. --scenario examples/faye-websocket.toml".into())
                    })?
                    .clone(),
            )
        } else {
            s.strip_prefix("--scenario=").map(OsString::from)
        };
        if let Some(p) = path {
            if found.is_some() {
                return Err(bad("given twice; one scenario file a run".into()));
            }
            found = Some(p);
        }
        if s == "--" {
            break;
        }
    }
    Ok(found)
}

/// The long names the command line sets (`--name` or `--name=value`).
fn given_on_command_line(args: &[OsString]) -> Vec<String> {
    args.iter()
        .filter_map(|a| {
            let s = a.to_str()?;
            let name = s.strip_prefix("--")?;
            Some(name.split('=').next().unwrap_or(name).to_owned())
        })
        .collect()
}

/// Expands `--scenario FILE` in `args`, the arguments of the `load`
/// subcommand whose parser is `cmd` (the program and subcommand names not
/// included): the file's options come first, then the command line's, and
/// an option the command line gives is not taken from the file. Without
/// `--scenario`, `args` come back as they are.
pub fn expand(cmd: &clap::Command, args: Vec<OsString>) -> Result<Vec<OsString>, LoadError> {
    let Some(path) = scenario_path(&args)? else {
        return Ok(args);
    };
    let path = Path::new(&path);
    let len = std::fs::metadata(path)
        .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?
        .len();
    if len > MAX_SCENARIO_BYTES {
        return Err(bad(format!(
            "{} is {len} bytes; a scenario is at most {MAX_SCENARIO_BYTES}",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
    let mut out = arguments(
        cmd,
        &text,
        &path.display().to_string(),
        &given_on_command_line(&args),
    )?;
    out.extend(args);
    Ok(out)
}

/// The arguments a scenario's text stands for, leaving out the options in
/// `given`. `name` names the file in messages.
fn arguments(
    cmd: &clap::Command,
    text: &str,
    name: &str,
    given: &[String],
) -> Result<Vec<OsString>, LoadError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| bad(format!("{name} is not valid TOML: {}", e.message())))?;
    let mut out = Vec::new();
    for (key, value) in table {
        let long = key.replace('_', "-");
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()) && !a.is_hide_set())
            .filter(|_| !NOT_IN_A_SCENARIO.contains(&long.as_str()))
            .ok_or_else(|| {
                bad(format!(
                    "{name}: unknown key {key:?}; a key is a `pushpoll load` option's long name without the dashes (url, transport, subscribers, on-connect, publish-template, ...)"
                ))
            })?;
        if given.contains(&long) {
            continue;
        }
        let flag = format!("--{long}");
        let scalar = |v: &toml::Value| -> Result<String, LoadError> {
            match v {
                toml::Value::String(s) => Ok(s.clone()),
                toml::Value::Integer(i) => Ok(i.to_string()),
                toml::Value::Float(f) => Ok(f.to_string()),
                toml::Value::Boolean(b) => Ok(b.to_string()),
                other => Err(bad(format!(
                    "{name}: {key} = {other} is not a string, a number or a boolean"
                ))),
            }
        };
        match (arg.get_action(), &value) {
            (ArgAction::SetTrue, toml::Value::Boolean(true)) => out.push(OsString::from(&flag)),
            (ArgAction::SetTrue, toml::Value::Boolean(false)) => {}
            (ArgAction::SetTrue, other) => {
                return Err(bad(format!(
                    "{name}: {key} is a flag; write {key} = true (got {other})"
                )))
            }
            (ArgAction::Append, toml::Value::Array(items)) => {
                for item in items {
                    out.push(OsString::from(format!("{flag}={}", scalar(item)?)));
                }
            }
            (_, toml::Value::Array(items)) if arg.get_value_delimiter().is_some() => {
                let parts = items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?;
                out.push(OsString::from(format!("{flag}={}", parts.join(","))));
            }
            (_, toml::Value::Array(_)) => {
                return Err(bad(format!("{name}: {key} takes one value, not a list")))
            }
            (_, v) => out.push(OsString::from(format!("{flag}={}", scalar(v)?))),
        }
    }
    Ok(out)
}

/// Whether `args` name a scenario (for callers that only expand when needed).
pub fn names_a_scenario(args: &[OsString]) -> bool {
    args.iter().any(|a| {
        let s: &OsStr = a;
        s == "--scenario" || s.to_string_lossy().starts_with("--scenario=")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::opts::LoadOpts;
    use clap::{CommandFactory as _, Parser as _};

    fn parse(text: &str, cli: &[&str]) -> Result<LoadOpts, String> {
        let cmd = LoadOpts::command();
        let cli: Vec<OsString> = cli.iter().map(OsString::from).collect();
        let mut args = arguments(&cmd, text, "s.toml", &given_on_command_line(&cli))
            .map_err(|e| e.to_string())?;
        args.extend(cli);
        args.insert(0, "load".into());
        LoadOpts::try_parse_from(args).map_err(|e| e.to_string())
    }

    #[test]
    fn keys_are_long_names_and_the_command_line_wins() {
        let text = r#"
            url = "ws://127.0.0.1:9/chat"
            subscribers = 20
            rate = 2.5
            binary = true
            ws_deflate = false
            on-connect = ['send:{"join":"room-{room}"}', "expect:joined"]
            publish-template = '{"text":"{marker}"}'
            source-ips = ["127.0.0.2", "127.0.0.3"]
        "#;
        let o = parse(text, &[]).unwrap();
        assert_eq!(o.url, "ws://127.0.0.1:9/chat");
        assert_eq!(
            (o.subscribers, o.rate, o.binary, o.ws_deflate),
            (20, 2.5, true, false)
        );
        assert_eq!(
            o.on_connect,
            [r#"send:{"join":"room-{room}"}"#, "expect:joined"]
        );
        assert_eq!(
            o.publish_template.as_deref(),
            Some(r#"{"text":"{marker}"}"#)
        );
        assert_eq!(o.source_ips.len(), 2);
        // The command line replaces a scalar, and a list as a whole.
        let o = parse(text, &["--subscribers", "3", "--on-connect=send:hi"]).unwrap();
        assert_eq!(o.subscribers, 3);
        assert_eq!(o.on_connect, ["send:hi"]);
    }

    #[test]
    fn bad_scenarios_are_named() {
        let e = parse("url = \"ws://h/ws\"\nsubscriber = 3\n", &[]).unwrap_err();
        assert!(e.contains("s.toml: unknown key \"subscriber\""), "{e}");
        let e = parse("url = [\"ws://a\", \"ws://b\"]\n", &[]).unwrap_err();
        assert!(e.contains("url takes one value, not a list"), "{e}");
        let e = parse("binary = \"yes\"\n", &[]).unwrap_err();
        assert!(e.contains("binary is a flag; write binary = true"), "{e}");
        let e = parse("url = \n", &[]).unwrap_err();
        assert!(e.contains("s.toml is not valid TOML"), "{e}");
        let e = parse("worker = true\n", &[]).unwrap_err();
        assert!(e.contains("unknown key \"worker\""), "{e}");
        // A value the option refuses is refused as on the command line.
        let e = parse("url = \"ws://h/ws\"\ntransport = \"carrier-pigeon\"\n", &[]).unwrap_err();
        assert!(e.contains("carrier-pigeon"), "{e}");
        let e = expand(
            &LoadOpts::command(),
            vec!["--scenario".into(), "/nonexistent.toml".into()],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("--scenario: cannot read /nonexistent.toml"),
            "{e}"
        );
    }
}
