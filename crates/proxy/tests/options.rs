//! Bad options are refused by name before anything listens.

use clap::Parser as _;
use pushpoll_proxy::{Proxy, ProxyError, ProxyOpts};
use tokio::net::TcpListener;

#[tokio::test]
async fn bad_options_are_refused_by_name() {
    let up = "127.0.0.1:9";
    for (args, option) in [
        (&["--delay=-1"][..], "delay"),
        (&["--jitter", "NaN"], "jitter"),
        (&["--bandwidth", "0"], "bandwidth"),
        (&["--kill-every", "0"], "kill-every"),
        (
            &["--kill-every", "1", "--kill-probability", "1.5"],
            "kill-probability",
        ),
        (&["--buffer-bytes", "0"], "buffer-bytes"),
        (&["--max-connections", "0"], "max-connections"),
    ] {
        let mut v = vec!["proxy", "--upstream", up];
        v.extend_from_slice(args);
        let o = ProxyOpts::try_parse_from(v).unwrap();
        match Proxy::start(&o).await {
            Err(ProxyError::InvalidOption { option: o, .. }) => assert_eq!(o, option),
            other => panic!("{args:?}: {other:?}"),
        }
    }
    let o = ProxyOpts::try_parse_from(["proxy", "--upstream", "no port"]).unwrap();
    assert!(matches!(
        Proxy::start(&o).await,
        Err(ProxyError::Resolve {
            option: "upstream",
            ..
        })
    ));
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut o = ProxyOpts::to("127.0.0.1:9".parse().unwrap());
    o.listen = taken.local_addr().unwrap().to_string();
    assert!(matches!(
        Proxy::start(&o).await,
        Err(ProxyError::Listen { .. })
    ));
}
