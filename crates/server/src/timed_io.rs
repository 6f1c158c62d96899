//! A socket wrapper that fails stalled I/O: a read that waits longer than the idle timeout,
//! or a write that waits longer than the write timeout, since the last byte moved either
//! way. The HTTP origin uses it so that a client that never sends (slow-loris) or never reads
//! (holding a segment in our send buffer) is dropped.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

pub(crate) struct TimedIo {
    inner: TcpStream,
    idle: Duration,
    write: Duration,
    /// When a byte last moved.
    progress: Instant,
    read_timer: Pin<Box<Sleep>>,
    write_timer: Pin<Box<Sleep>>,
}

impl TimedIo {
    pub fn new(inner: TcpStream, idle: Duration, write: Duration) -> Self {
        let now = Instant::now();
        TimedIo {
            inner,
            idle,
            write,
            progress: now,
            read_timer: Box::pin(tokio::time::sleep_until(now + idle)),
            write_timer: Box::pin(tokio::time::sleep_until(now + write)),
        }
    }

    fn moved(&mut self) {
        self.progress = Instant::now();
    }

    /// Poll `timer` armed at `progress + limit`; an error once it has passed.
    fn expired(timer: &mut Pin<Box<Sleep>>, progress: Instant, limit: Duration, cx: &mut Context<'_>, what: &str) -> Option<io::Error> {
        let deadline = progress + limit;
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Some(io::Error::new(io::ErrorKind::TimedOut, format!("{what} for {} s", limit.as_secs()))),
            Poll::Pending => None,
        }
    }
}

use std::future::Future;

impl AsyncRead for TimedIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.moved();
                }
                Poll::Ready(r)
            }
            Poll::Pending => match Self::expired(&mut this.read_timer, this.progress, this.idle, cx, "client idle") {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for TimedIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, data) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    this.moved();
                }
                Poll::Ready(r)
            }
            Poll::Pending => match Self::expired(&mut this.write_timer, this.progress, this.write, cx, "client did not read") {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    this.moved();
                }
                Poll::Ready(r)
            }
            Poll::Pending => match Self::expired(&mut this.write_timer, this.progress, this.write, cx, "client did not read") {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            },
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_peer_that_never_reads_fails_the_write_and_one_that_never_sends_fails_the_read() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut io = TimedIo::new(server, Duration::from_millis(300), Duration::from_millis(300));
        let mut buf = [0u8; 16];
        let err = io.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        // 64 MiB never fits the socket buffers of a peer that does not read.
        let big = vec![0u8; 64 << 20];
        let err = io.write_all(&big).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
