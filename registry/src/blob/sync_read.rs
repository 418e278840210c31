//! A stored blob handed to blocking code as a [`std::io::Read`]: zoo-format's
//! archive reader is synchronous, while backends stream asynchronously. A
//! file on disk is opened directly; any other backend's stream is fed
//! through a small bounded channel, so the blob is never held in memory
//! whole (an archive may be as large as `--max-package-size`).

use std::io::{self, BufReader, Read};

use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{BlobBackend, ByteStream};

/// Chunks in flight between the stream and the reader.
const CHANNEL_CHUNKS: usize = 4;

/// Runs `read` on a blocking thread over the bytes of blob `sha256`;
/// `NotFound` when the blob is not stored.
pub async fn read_blob<T, F>(blobs: &dyn BlobBackend, sha256: &str, read: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Read) -> T + Send + 'static,
{
    if let Some(path) = blobs.local_path(sha256) {
        return tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(path)?;
            Ok(read(&mut BufReader::new(file)))
        })
        .await
        .map_err(io::Error::other)?;
    }
    read_stream(blobs.get(sha256, None).await?, read).await
}

/// [`read_blob`] over any byte stream. When `read` stops early the rest
/// of the stream is dropped unread.
pub async fn read_stream<T, F>(mut stream: ByteStream, read: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Read) -> T + Send + 'static,
{
    let (sender, receiver) = mpsc::channel(CHANNEL_CHUNKS);
    let reader = tokio::task::spawn_blocking(move || {
        read(&mut ChannelReader {
            receiver,
            current: Bytes::new(),
        })
    });
    while let Some(chunk) = stream.next().await {
        let failed = chunk.is_err();
        // The reader is done (its receiver dropped): stop feeding it.
        if sender.send(chunk).await.is_err() || failed {
            break;
        }
    }
    drop(sender);
    reader.await.map_err(io::Error::other)
}

/// The blocking end of [`read_stream`]'s channel.
struct ChannelReader {
    receiver: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: Vec<io::Result<&'static [u8]>>) -> ByteStream {
        futures_util::stream::iter(parts.into_iter().map(|p| p.map(Bytes::from_static))).boxed()
    }

    #[tokio::test]
    async fn a_stream_reads_whole_in_small_reads() {
        let stream = chunks(vec![
            Ok(&b"hello "[..]),
            Ok(&b""[..]),
            Ok(&b"blob"[..]),
            Ok(&b" world"[..]),
        ]);
        let got = read_stream(stream, |r| {
            let mut out = Vec::new();
            let mut small = [0u8; 3];
            loop {
                match r.read(&mut small)? {
                    0 => return Ok::<_, io::Error>(out),
                    n => out.extend_from_slice(&small[..n]),
                }
            }
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(got, b"hello blob world");
    }

    #[tokio::test]
    async fn a_stream_error_reaches_the_reader() {
        let stream = chunks(vec![
            Ok(&b"part"[..]),
            Err(io::Error::other("backend gone")),
            Ok(&b"never"[..]),
        ]);
        let got = read_stream(stream, |r| {
            let mut out = Vec::new();
            r.read_to_end(&mut out).map(|_| out)
        })
        .await
        .unwrap();
        assert!(got.unwrap_err().to_string().contains("backend gone"));
    }

    #[tokio::test]
    async fn a_reader_may_stop_early() {
        let parts: Vec<io::Result<&'static [u8]>> = (0..100).map(|_| Ok(&b"0123"[..])).collect();
        let got = read_stream(chunks(parts), |r| {
            let mut first = [0u8; 2];
            r.read_exact(&mut first).map(|_| first)
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(&got, b"01");
    }
}
