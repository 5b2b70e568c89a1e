//! tokio current-thread with tokio-util's `Framed<_, LinesCodec>`: one task per connection
//! that feeds each line back as it is decoded (per-line send into the write buffer) and
//! flushes once no further line is ready (per-burst flush).

use std::future::poll_fn;
use std::io;
use std::net::TcpListener;
use std::pin::Pin;
use std::task::Poll;

use futures_core::Stream;
use futures_sink::Sink;
use tokio_util::codec::{Framed, LinesCodec, LinesCodecError};

fn to_io(error: LinesCodecError) -> io::Error {
    match error {
        LinesCodecError::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

pub fn serve(listener: TcpListener) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async move {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(async move {
                let mut framed = Framed::new(stream, LinesCodec::new());
                loop {
                    // The next line; when none is ready, flush what was fed, then wait.
                    let next = poll_fn(|cx| match Pin::new(&mut framed).poll_next(cx) {
                        Poll::Pending => {
                            match Sink::<String>::poll_flush(Pin::new(&mut framed), cx) {
                                Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
                                _ => Poll::Pending,
                            }
                        }
                        other => other,
                    })
                    .await;
                    let Some(Ok(line)) = next else { break };
                    if poll_fn(|cx| Sink::<String>::poll_ready(Pin::new(&mut framed), cx))
                        .await
                        .map_err(to_io)
                        .is_err()
                    {
                        break;
                    }
                    if Pin::new(&mut framed).start_send(line).is_err() {
                        break;
                    }
                }
            });
        }
    })
}
