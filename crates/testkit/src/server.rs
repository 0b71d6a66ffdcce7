//! pushpoll's server (`pushpoll_server::run`, what `pushpoll serve` runs)
//! on `127.0.0.1:0`, for tests that talk to it over sockets.

use std::net::SocketAddr;
use std::time::Duration;

use pushpoll_server::{Config, ServerError};
use tokio::sync::oneshot;

use crate::wait::{within, PATIENCE};

/// A running server on `127.0.0.1:0`; [`stop`](Self::stop)ped or dropped,
/// it shuts down gracefully (connections told, `run` returns).
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    serving: Serving,
}

/// Where `run` is running.
enum Serving {
    /// A task of the runtime that started it: its timers follow that
    /// runtime's clock, paused or not.
    Task(Option<tokio::task::JoinHandle<Result<(), ServerError>>>),
    /// A runtime of its own (one worker) on a thread of its own.
    Thread(Option<std::thread::JoinHandle<Result<(), ServerError>>>),
}

impl TestServer {
    /// Starts the server as a task of the calling runtime. Dropped, it is
    /// asked to stop and left to finish on that runtime;
    /// [`stop`](Self::stop) waits for it.
    pub async fn start(config: Config) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding 127.0.0.1:0");
        let addr = listener.local_addr().expect("the listener's address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(pushpoll_server::run(listener, config, async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            stop: Some(stop),
            serving: Serving::Task(Some(task)),
        }
    }

    /// [`start`](Self::start) with [`Config::default`].
    pub async fn start_default() -> TestServer {
        TestServer::start(Config::default()).await
    }

    /// Starts the server on a runtime and thread of its own, for callers
    /// without a runtime (plain `#[test]`s, benches) or whose runtime must
    /// not share its threads with the server. Dropped, it is stopped and its
    /// thread joined, within [`PATIENCE`].
    pub fn start_threaded(config: Config) -> TestServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("testkit-server")
            .enable_all()
            .build()
            .expect("the server's runtime");
        // Bound with std, so this works inside another runtime too;
        // registered with the server's own runtime on its thread.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let addr = listener.local_addr().expect("the listener's address");
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("testkit-server".to_owned())
            .spawn(move || {
                let served = runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("registering the listener");
                    pushpoll_server::run(listener, config, async move {
                        let _ = stopped.await;
                    })
                    .await
                });
                runtime.shutdown_timeout(Duration::from_secs(5));
                served
            })
            .expect("spawning the server thread");
        TestServer {
            addr,
            stop: Some(stop),
            serving: Serving::Thread(Some(thread)),
        }
    }

    /// Asks for shutdown and waits (at most [`PATIENCE`]) for `run` to
    /// return; what it returned.
    pub async fn stop(mut self) -> Result<(), ServerError> {
        self.signal();
        match &mut self.serving {
            Serving::Task(task) => {
                let task = task.take().expect("stopped once");
                within("the server to stop", task)
                    .await
                    .expect("the server task")
            }
            Serving::Thread(thread) => {
                let thread = thread.take().expect("stopped once");
                within("the server to stop", async {
                    while !thread.is_finished() {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                })
                .await;
                thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }
        }
    }

    fn signal(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.signal();
        let Serving::Thread(thread) = &mut self.serving else {
            // A task finishes on its runtime; nothing here may block it.
            return;
        };
        let Some(thread) = thread.take() else {
            return;
        };
        let deadline = std::time::Instant::now() + PATIENCE;
        while !thread.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if thread.is_finished() {
            let _ = thread.join();
        } else if !std::thread::panicking() {
            panic!("the test server did not stop within {PATIENCE:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_server_serves_and_stops() {
        let server = TestServer::start_default().await;
        let text = crate::scrape_metrics(server.addr).await;
        assert!(text.contains("pushpoll_last_seq"), "{text}");
        let addr = server.addr;
        server.stop().await.unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    #[test]
    fn a_threaded_server_serves_and_stops_on_drop() {
        let server = TestServer::start_threaded(Config::default());
        let text = crate::scrape_metrics_blocking(server.addr);
        assert!(text.contains("pushpoll_last_seq"), "{text}");
        let addr = server.addr;
        drop(server);
        assert!(std::net::TcpStream::connect(addr).is_err());
    }
}
