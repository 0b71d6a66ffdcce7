//! What the kernel's TCP stack did for a socket (`getsockopt(TCP_INFO)`),
//! and the generator's own CPU time (`getrusage`): the costs a byte count at
//! the socket cannot see.
//!
//! A delivered WebSocket message costs its payload, its frame header, and
//! then TCP/IP's own: every segment carries an IP and a TCP header (52
//! bytes on loopback, with timestamps; 66 on Ethernet), and acknowledgements
//! are segments too. Those segments are counted here from the kernel's
//! per-socket counters, so a result can show headers, framing and
//! transport apart.

use std::os::fd::RawFd;

/// IPv4 (20) + TCP (20) + the timestamp option (12) bytes: the headers of
/// one segment on loopback, where no link header is sent. On Ethernet add
/// 14 bytes of link header (66).
pub const SEGMENT_HEADER_BYTES: u64 = 52;

/// A socket's cumulative TCP counters, as the kernel keeps them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TcpCounters {
    /// Segments sent, pure ACKs and retransmissions included.
    pub segs_out: u64,
    /// Segments received, pure ACKs included.
    pub segs_in: u64,
    /// Payload bytes the peer acknowledged (what this side sent).
    pub bytes_acked: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
}

impl TcpCounters {
    /// Counter-wise `self + o`.
    pub fn plus(self, o: TcpCounters) -> TcpCounters {
        TcpCounters {
            segs_out: self.segs_out + o.segs_out,
            segs_in: self.segs_in + o.segs_in,
            bytes_acked: self.bytes_acked + o.bytes_acked,
            bytes_received: self.bytes_received + o.bytes_received,
        }
    }

    /// Counter-wise `self - o`, never below zero.
    pub fn minus(self, o: TcpCounters) -> TcpCounters {
        TcpCounters {
            segs_out: self.segs_out.saturating_sub(o.segs_out),
            segs_in: self.segs_in.saturating_sub(o.segs_in),
            bytes_acked: self.bytes_acked.saturating_sub(o.bytes_acked),
            bytes_received: self.bytes_received.saturating_sub(o.bytes_received),
        }
    }
}

/// Reads `TCP_INFO` of socket `fd`; `None` when it is not a TCP socket (or
/// not Linux, or a kernel too old for the segment counters, before 4.2).
#[cfg(target_os = "linux")]
pub(crate) fn read(fd: RawFd) -> Option<TcpCounters> {
    // SAFETY: `tcp_info` is plain old data (all zeros is a valid value),
    // and getsockopt writes at most `len` bytes into it.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    let needed = std::mem::offset_of!(libc::tcp_info, tcpi_segs_in) + 4;
    if rc != 0 || (len as usize) < needed {
        return None;
    }
    Some(TcpCounters {
        segs_out: u64::from(info.tcpi_segs_out),
        segs_in: u64::from(info.tcpi_segs_in),
        bytes_acked: info.tcpi_bytes_acked,
        bytes_received: info.tcpi_bytes_received,
    })
}

/// Reads `TCP_INFO` of socket `fd` (Linux only: `None` elsewhere).
#[cfg(not(target_os = "linux"))]
pub(crate) fn read(_fd: RawFd) -> Option<TcpCounters> {
    None
}

/// CPU time (user + system) this process has used so far, seconds.
pub(crate) fn process_cpu_s() -> Option<f64> {
    // SAFETY: getrusage fills the struct it is given; all zeros is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return None;
    }
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some(s(usage.ru_utime) + s(usage.ru_stime))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    #[test]
    fn counts_the_bytes_and_segments_of_a_loopback_exchange() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut a = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut b, _) = listener.accept().unwrap();
        let before = read(a.as_raw_fd()).unwrap();
        a.write_all(&[7u8; 1000]).unwrap();
        let mut buf = [0u8; 1000];
        b.read_exact(&mut buf).unwrap();
        b.write_all(&[1u8; 10]).unwrap();
        a.read_exact(&mut buf[..10]).unwrap();
        let d = read(a.as_raw_fd()).unwrap().minus(before);
        assert_eq!(d.bytes_received, 10);
        assert!(d.segs_out >= 1 && d.segs_in >= 1, "{d:?}");
        // The peer acknowledges what it received, at the latest with its answer.
        assert_eq!(read(b.as_raw_fd()).unwrap().bytes_received, 1000);
        assert!(read(std::io::stdin().as_raw_fd()).is_none());
    }

    #[test]
    fn process_cpu_grows() {
        let a = process_cpu_s().unwrap();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(process_cpu_s().unwrap() >= a);
    }
}
