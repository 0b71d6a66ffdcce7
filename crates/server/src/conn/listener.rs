//! Set-up of the listener the caller bound.

use std::io;

use tokio::net::TcpListener;

/// Sets the listen queue of an already listening socket to `backlog`
/// ([`Limits::listen_backlog`](crate::Limits::listen_backlog)): calling
/// `listen` again on a listening socket changes only its queue length
/// (Linux, the BSDs), so the caller may bind however it likes. The kernel
/// silently caps it at `net.core.somaxconn`; a request above that is logged.
pub(crate) fn set_backlog(listener: &TcpListener, backlog: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd as _;
        let backlog = libc::c_int::try_from(backlog).unwrap_or(libc::c_int::MAX);
        // SAFETY: `listen` on a descriptor we borrow; it touches no memory.
        if unsafe { libc::listen(listener.as_raw_fd(), backlog) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let cap = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse::<libc::c_int>().ok());
        if let Some(cap) = cap.filter(|cap| *cap < backlog) {
            tracing::warn!(
                backlog,
                somaxconn = cap,
                "the kernel caps the listen backlog at net.core.somaxconn"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (listener, backlog);
    Ok(())
}
