//! A TCP delay proxy for tests and benchmarks: the internet is not loopback.
//!
//! [`DelayProxy::start`] listens on a free port of 127.0.0.1; every accepted connection is
//! connected to `target` and relayed both ways, each chunk written exactly `one_way` after it
//! was read. The relay is pipelined: every chunk is stamped when it is read and written at
//! stamp + `one_way`, in order, while reading goes on, so a connection sees a fixed latency
//! and not a throttled bandwidth, and many connections at once each see only that latency.
//! A half-close (EOF) is passed on after the same delay; a reset (or any error) on either
//! side closes both at once, the other one with a reset too. Up to 16 MiB per direction and
//! connection are in flight; beyond that reading waits (the proxy never buffers without
//! bound). The connect to `target` itself is not delayed: the delay starts with the first
//! bytes (an ssh handshake's round trips are all data).
//!
//! Everything runs on a tokio current-thread runtime in one background thread. Dropping the
//! proxy closes the listener and every connection and joins that thread.
//!
//! The shell benchmarks use the same code through the `delay-proxy` example
//! (benches/push/delay_proxy.rs).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Largest chunk read at once.
const CHUNK: usize = 64 * 1024;
/// Bytes per direction and connection read but not yet written.
const IN_FLIGHT: usize = 16 << 20;

/// A running delay proxy; see the module documentation.
pub struct DelayProxy {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl DelayProxy {
    /// Listen on a free port of 127.0.0.1 and relay every connection to `target`, each chunk
    /// delayed by `one_way`. Panics when it cannot listen.
    pub fn start(target: SocketAddr, one_way: Duration) -> DelayProxy {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("delay proxy: bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("delay proxy: non-blocking listener");
        let port = listener
            .local_addr()
            .expect("delay proxy: local address")
            .port();
        let (stop_tx, stop_rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("delay-proxy-{port}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .enable_time()
                    .build()
                    .expect("delay proxy: tokio runtime");
                rt.block_on(serve(listener, target, one_way, stop_rx));
                // dropping the runtime drops every connection task, and so its sockets
                drop(rt);
            })
            .expect("delay proxy: spawn thread");
        DelayProxy {
            port,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Accept until told to stop (or until the [`DelayProxy`] is gone).
async fn serve(
    listener: std::net::TcpListener,
    target: SocketAddr,
    one_way: Duration,
    mut stop: oneshot::Receiver<()>,
) {
    let listener = TcpListener::from_std(listener).expect("delay proxy: register listener");
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    tokio::spawn(relay(client, target, one_way));
                }
                // out of file descriptors and the like: try again a little later
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

/// One connection: both directions until both ended; on any error both sockets are reset.
async fn relay(mut client: TcpStream, target: SocketAddr, one_way: Duration) {
    let _ = client.set_nodelay(true);
    let mut server = match TcpStream::connect(target).await {
        Ok(s) => s,
        Err(_) => {
            // nobody there: the client sees a reset, as it would connecting directly
            let _ = client.set_zero_linger();
            return;
        }
    };
    let _ = server.set_nodelay(true);
    let clean = {
        let (client_r, client_w) = client.split();
        let (server_r, server_w) = server.split();
        tokio::try_join!(
            pipe(client_r, server_w, one_way),
            pipe(server_r, client_w, one_way)
        )
        .is_ok()
    };
    if !clean {
        let _ = client.set_zero_linger();
        let _ = server.set_zero_linger();
    }
}

/// A chunk on its way: written at `at`; empty data is the EOF.
struct Chunk {
    at: Instant,
    data: Vec<u8>,
    _budget: Option<OwnedSemaphorePermit>,
}

/// One direction: read chunks, stamp them, write each at its stamp + `delay`, in order.
async fn pipe(mut r: ReadHalf<'_>, mut w: WriteHalf<'_>, delay: Duration) -> io::Result<()> {
    let budget = Arc::new(Semaphore::new(IN_FLIGHT));
    let (tx, mut rx) = mpsc::unbounded_channel::<Chunk>();
    let read = async move {
        loop {
            let mut data = vec![0; CHUNK];
            let n = r.read(&mut data).await?;
            let at = Instant::now() + delay;
            if n == 0 {
                let _ = tx.send(Chunk {
                    at,
                    data: Vec::new(),
                    _budget: None,
                });
                return Ok::<(), io::Error>(());
            }
            data.truncate(n);
            let permit = Arc::clone(&budget)
                .acquire_many_owned(n as u32)
                .await
                .expect("the budget is never closed");
            if tx
                .send(Chunk {
                    at,
                    data,
                    _budget: Some(permit),
                })
                .is_err()
            {
                return Ok(());
            }
        }
    };
    let write = async move {
        while let Some(chunk) = rx.recv().await {
            if chunk.at > Instant::now() {
                tokio::time::sleep_until(chunk.at).await;
            }
            if chunk.data.is_empty() {
                w.shutdown().await?;
                return Ok::<(), io::Error>(());
            }
            w.write_all(&chunk.data).await?;
        }
        Ok(())
    };
    tokio::try_join!(read, write).map(|_| ())
}
