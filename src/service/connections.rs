//! Open connections, capped per client address and in total, so that no client (slowloris,
//! a flood of idle sockets) takes every file descriptor: the excess is answered 503 and
//! closed at once, and a client from another address (a health check) still gets in.

use std::collections::HashMap;
use std::future::Ready;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Descriptors kept for everything but connections: the gallery's files and sockets, the
/// models, logs, the runtime's own.
const RESERVED_DESCRIPTORS: u64 = 64;

/// How many connections are open, in total and per address.
pub(crate) struct Connections {
    per_address: usize,
    total: usize,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

impl Connections {
    /// At most `per_address` connections from one address and `total` in all, the total held
    /// below the process's limit of open files (`ulimit -n`), so that accepting never fails
    /// for want of a descriptor.
    pub(crate) fn new(per_address: usize, total: usize) -> Connections {
        let total = total.min(descriptors_for_connections());
        Connections {
            per_address: per_address.min(total),
            total,
            open: Mutex::new(Open::default()),
        }
    }

    /// The caps in force: per address, in total.
    pub(crate) fn caps(&self) -> (usize, usize) {
        (self.per_address, self.total)
    }

    /// A place for a connection from `address`, or `None` when its address or the server has
    /// as many as allowed.
    fn admit(self: &Arc<Self>, address: IpAddr) -> Option<Admitted> {
        let mut open = self.open.lock().ok()?;
        let mine = open.by_address.get(&address).copied().unwrap_or(0);
        if mine >= self.per_address || open.total >= self.total {
            return None;
        }
        open.total += 1;
        open.by_address.insert(address, mine + 1);
        Some(Admitted {
            connections: self.clone(),
            address,
        })
    }
}

/// The soft limit of open files, less what the rest of the server needs.
fn descriptors_for_connections() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    usize::try_from(limit.saturating_sub(RESERVED_DESCRIPTORS))
        .unwrap_or(usize::MAX)
        .max(1)
}

/// One connection's place; given back when the connection closes.
struct Admitted {
    connections: Arc<Connections>,
    address: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Ok(mut open) = self.connections.open.lock() {
            open.total = open.total.saturating_sub(1);
            if let Some(mine) = open.by_address.get_mut(&self.address) {
                *mine = mine.saturating_sub(1);
                if *mine == 0 {
                    open.by_address.remove(&self.address);
                }
            }
        }
    }
}

/// What a refused plain-HTTP client reads before the close.
fn refusal() -> &'static [u8] {
    static REFUSAL: OnceLock<Vec<u8>> = OnceLock::new();
    REFUSAL.get_or_init(|| {
        let body = "{\"error\":{\"code\":\"busy\",\"message\":\"too many connections from \
                    your address, or in all; close some and retry after a second (config: \
                    serve.max_connections_per_address, serve.max_connections)\"}}";
        format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
             Retry-After: 1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    })
}

/// Admits a connection within the caps, or refuses it: a plain-HTTP client is told 503 in
/// one write that never waits, then the socket is closed; a TLS one is closed.
#[derive(Clone)]
pub(crate) struct CapConnections {
    pub(crate) connections: Arc<Connections>,
    /// Whether the connection speaks plain HTTP (a refusal can be written on it).
    pub(crate) plain: bool,
}

impl<S> Accept<TcpStream, S> for CapConnections {
    type Stream = Counted;
    type Service = S;
    type Future = Ready<io::Result<(Counted, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let admitted = stream
            .peer_addr()
            .ok()
            .and_then(|peer| self.connections.admit(peer.ip()));
        std::future::ready(match admitted {
            Some(admitted) => Ok((
                Counted {
                    stream,
                    _admitted: admitted,
                },
                service,
            )),
            None => {
                if self.plain {
                    // Best effort: a full socket buffer loses the answer, not the refusal.
                    stream.try_write(refusal()).ok();
                }
                tracing::debug!("refused a connection over serve.max_connections(_per_address)");
                Err(io::Error::other("over the connection caps"))
            }
        })
    }
}

/// A connection that holds its place until it closes.
pub(crate) struct Counted {
    stream: TcpStream,
    _admitted: Admitted,
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_and_the_total_are_capped_and_places_come_back() {
        let connections = Arc::new(Connections::new(2, 3));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = connections.admit(a).unwrap();
        let _second = connections.admit(a).unwrap();
        assert!(connections.admit(a).is_none(), "a third from one address");
        let _other = connections.admit(b).unwrap();
        assert!(connections.admit(b).is_none(), "a fourth in all");
        drop(first);
        assert!(connections.admit(a).is_some());
    }
}
