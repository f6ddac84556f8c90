//! A bad link for the network tests: a UDP socket that loses, delays
//! (and so reorders) and duplicates the datagrams it sends, under the real
//! QUIC transport. Each end of a link wraps its own socket, so both
//! directions suffer. Decisions come from a seeded generator: a failing
//! seed names the same faults again (the timing of the run still varies).

use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, Runtime, UdpPoller};

/// What the link does to a datagram, as shares of those sent.
#[derive(Clone, Copy, Debug)]
pub(super) struct Faults {
    /// Lost.
    pub loss: f64,
    /// Sent twice.
    pub duplicate: f64,
    /// Held back for up to `max_delay`: those sent meanwhile overtake it.
    pub delay: f64,
    pub max_delay: Duration,
}

/// What the link did.
#[derive(Debug, Default)]
pub(super) struct Counts {
    pub sent: AtomicUsize,
    pub lost: AtomicUsize,
    pub duplicated: AtomicUsize,
    pub delayed: AtomicUsize,
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |c: &AtomicUsize| c.load(Ordering::Relaxed);
        write!(
            f,
            "{} datagrams: {} lost, {} duplicated, {} delayed",
            n(&self.sent),
            n(&self.lost),
            n(&self.duplicated),
            n(&self.delayed)
        )
    }
}

pub(super) struct Lossy {
    inner: Arc<dyn AsyncUdpSocket>,
    faults: Faults,
    state: Mutex<u64>,
    pub counts: Counts,
}

impl fmt::Debug for Lossy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lossy({:?}, {})", self.faults, self.counts)
    }
}

impl Lossy {
    /// A socket on loopback, any port, that sends with `faults`.
    pub fn on_loopback(faults: Faults, seed: u64) -> Arc<Lossy> {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
        let inner = quinn::TokioRuntime
            .wrap_udp_socket(socket)
            .expect("quinn takes a bound socket");
        Arc::new(Lossy {
            inner,
            faults,
            // splitmix64 wants a state; any seed, zero too, will do.
            state: Mutex::new(seed),
            counts: Counts::default(),
        })
    }

    /// A number in [0, 1) (splitmix64).
    fn roll(&self) -> f64 {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl AsyncUdpSocket for Lossy {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        self.inner.clone().create_io_poller()
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        // One datagram per transmit (`max_transmit_segments` is 1).
        self.counts.sent.fetch_add(1, Ordering::Relaxed);
        if self.roll() < self.faults.loss {
            self.counts.lost.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        if self.roll() < self.faults.delay {
            self.counts.delayed.fetch_add(1, Ordering::Relaxed);
            let wait = self.faults.max_delay.mul_f64(self.roll());
            let inner = self.inner.clone();
            let (destination, ecn, src_ip) = (transmit.destination, transmit.ecn, transmit.src_ip);
            let contents = transmit.contents.to_vec();
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                // A full socket buffer loses it, as a real link would.
                let _ = inner.try_send(&Transmit {
                    destination,
                    ecn,
                    contents: &contents,
                    segment_size: None,
                    src_ip,
                });
            });
            return Ok(());
        }
        self.inner.try_send(transmit)?;
        if self.roll() < self.faults.duplicate {
            self.counts.duplicated.fetch_add(1, Ordering::Relaxed);
            let _ = self.inner.try_send(transmit);
        }
        Ok(())
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_recv(cx, bufs, meta)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        1
    }

    fn max_receive_segments(&self) -> usize {
        self.inner.max_receive_segments()
    }

    fn may_fragment(&self) -> bool {
        self.inner.may_fragment()
    }
}
