//! MLLP framing (start block 0x0B, payload, end block 0x1C 0x0D) over any `AsyncRead`, with a
//! payload size limit and read timeouts. Knows nothing about HL7 content.
//!
//! Decisions (tested below):
//! - Bytes outside a frame (before a start block, or between frames such as a stray `\n` some
//!   senders add after 0x1C 0x0D) are skipped and counted, so one bad write does not cost the
//!   whole connection. More than `max_bytes` skipped without a start block is an error.
//! - A start block inside a frame discards the partial frame and starts a new one: the sender
//!   evidently gave up on the earlier message, which was never acknowledged.
//! - 0x1C followed by another byte than 0x0D is an error (the framing is lost; the caller
//!   closes). 0x1C followed by nothing — the peer closes, or sends nothing more for
//!   [`END_GRACE`] — ends the frame: some senders never send the 0x0D, and waiting for it left
//!   them without an ACK forever.
//! - A whole frame must arrive within `read_timeout` of its start block (a deadline per frame, not
//!   per read: a peer sending one byte every few seconds held a connection slot indefinitely), so
//!   a frame without an end block ends in [`MllpError::ReadTimeout`]; between frames the longer
//!   `idle_timeout` applies.
//! - The sending side ([`exchange`], for MLLP clients such as `petground-phantom send`) writes
//!   with [`encode_frame`] and reads the answer with the same [`MllpReader`], so the workspace has
//!   one implementation of the framing.
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Start of block.
pub const START_BLOCK: u8 = 0x0B;
/// End of block, followed by [`CARRIAGE_RETURN`].
pub const END_BLOCK: u8 = 0x1C;
/// Closes the end block.
pub const CARRIAGE_RETURN: u8 = 0x0D;

/// How long a 0x1C may wait for its 0x0D before the frame is taken as ended.
pub const END_GRACE: Duration = Duration::from_secs(1);

/// How many leading payload bytes an oversize error keeps, enough for the MSH segment.
const OVERSIZE_HEAD: usize = 1024;

/// Errors while reading MLLP frames.
#[derive(Debug, thiserror::Error)]
pub enum MllpError {
    #[error("reading MLLP frame: {0}")]
    Io(#[from] std::io::Error),
    #[error("MLLP payload exceeds the limit of {limit} bytes")]
    Oversize {
        limit: usize,
        /// The first bytes of the payload (for MSH-10 in the error ACK).
        head: Vec<u8>,
    },
    #[error("no MLLP start block within {skipped} bytes")]
    NoStartBlock { skipped: usize },
    #[error("MLLP end block 0x1C followed by 0x{found:02X} instead of 0x0D")]
    BadEndBlock { found: u8 },
    #[error("MLLP frame not complete within {0:?} of its start block (missing end block?)")]
    ReadTimeout(Duration),
    #[error("connection idle for {0:?} between MLLP frames")]
    IdleTimeout(Duration),
    #[error("connection closed inside an MLLP frame after {0} payload bytes")]
    Truncated(usize),
    #[error("MLLP frame not written within {0:?}")]
    WriteTimeout(Duration),
    #[error("connection closed before an MLLP answer")]
    NoAnswer,
}

/// Limits for one connection's reader.
#[derive(Debug, Clone, Copy)]
pub struct FrameLimits {
    pub max_bytes: usize,
    pub read_timeout: Duration,
    pub idle_timeout: Duration,
}

/// Where the scanner is relative to frame boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Outside,
    Inside,
    /// Saw 0x1C inside a frame; the next byte must be 0x0D.
    AfterEnd,
}

/// Reads MLLP frames one at a time. Not cancel-safe in the middle of a frame: a cancelled
/// `next_frame` may lose the partial frame, which is fine because it was never acknowledged.
pub struct MllpReader<R> {
    inner: R,
    limits: FrameLimits,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    state: State,
    payload: Vec<u8>,
    skipped: usize,
    /// The peer closed its side (seen by `next_ready_frame`).
    eof: bool,
    /// An error met by `next_ready_frame`, reported by the next `next_frame`.
    deferred: Option<MllpError>,
    /// When the open frame must be complete (set at its start block).
    deadline: Option<Instant>,
}

impl<R: AsyncRead + Unpin> MllpReader<R> {
    pub fn new(inner: R, limits: FrameLimits) -> Self {
        Self {
            inner,
            limits,
            buf: vec![0; 64 * 1024],
            pos: 0,
            len: 0,
            state: State::Outside,
            payload: Vec::new(),
            skipped: 0,
            eof: false,
            deferred: None,
            deadline: None,
        }
    }

    /// Bytes skipped outside frames since the last call (for logging).
    pub fn take_skipped(&mut self) -> usize {
        std::mem::take(&mut self.skipped)
    }

    /// The next frame's payload; `Ok(None)` when the peer closed the connection between frames.
    pub async fn next_frame(&mut self) -> Result<Option<Vec<u8>>, MllpError> {
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        loop {
            while self.pos < self.len {
                let byte = self.buf[self.pos];
                self.pos += 1;
                if let Some(frame) = self.scan(byte)? {
                    return Ok(Some(frame));
                }
            }
            if self.state == State::AfterEnd {
                // 0x1C seen, 0x0D not yet: take the frame at EOF or after a short grace.
                match tokio::time::timeout(END_GRACE, self.fill()).await {
                    Ok(Ok(true)) => continue,
                    Ok(Ok(false)) | Ok(Err(MllpError::ReadTimeout(_))) | Err(_) => {
                        self.state = State::Outside;
                        return Ok(Some(std::mem::take(&mut self.payload)));
                    }
                    Ok(Err(e)) => return Err(e),
                }
            }
            if !self.fill().await? {
                return match self.state {
                    State::Outside => Ok(None),
                    _ => Err(MllpError::Truncated(self.payload.len())),
                };
            }
        }
    }

    /// A further frame only if it is complete without waiting: from bytes already buffered or
    /// readable at once. Lets the caller store a pipelining sender's messages in one commit.
    /// An error or EOF met here is kept for the next [`Self::next_frame`].
    pub async fn next_ready_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            while self.pos < self.len {
                let byte = self.buf[self.pos];
                self.pos += 1;
                match self.scan(byte) {
                    Ok(Some(frame)) => return Some(frame),
                    Ok(None) => {}
                    Err(e) => {
                        self.deferred = Some(e);
                        return None;
                    }
                }
            }
            if self.eof || self.deferred.is_some() {
                return None;
            }
            match self.read_if_ready().await {
                Some(Ok(0)) => self.eof = true,
                Some(Ok(n)) => {
                    self.pos = 0;
                    self.len = n;
                }
                Some(Err(e)) => self.deferred = Some(MllpError::Io(e)),
                None => return None,
            }
        }
    }

    /// Poll the reader exactly once: `None` when no data is ready. (A zero `timeout` would
    /// not do: tokio fires it on the next 1 ms timer tick, which cost every message a tick.)
    async fn read_if_ready(&mut self) -> Option<std::io::Result<usize>> {
        let Self { inner, buf, .. } = self;
        std::future::poll_fn(|cx| {
            let mut read_buf = ReadBuf::new(buf);
            match Pin::new(&mut *inner).poll_read(cx, &mut read_buf) {
                Poll::Ready(Ok(())) => Poll::Ready(Some(Ok(read_buf.filled().len()))),
                Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
                Poll::Pending => Poll::Ready(None),
            }
        })
        .await
    }

    /// After an oversize error: discard input until the end of that frame, EOF, or the read
    /// timeout, so that closing the socket does not reset the connection before the peer has
    /// read our error ACK (unread input makes the kernel send RST on close).
    pub async fn discard_frame(&mut self) {
        self.payload = Vec::new();
        loop {
            while self.pos < self.len {
                let byte = self.buf[self.pos];
                self.pos += 1;
                if self.state == State::AfterEnd && byte == CARRIAGE_RETURN {
                    self.state = State::Outside;
                    return;
                }
                self.state = if byte == END_BLOCK {
                    State::AfterEnd
                } else {
                    State::Inside
                };
            }
            if !matches!(self.fill().await, Ok(true)) {
                return;
            }
        }
    }

    /// One byte through the state machine; returns a finished payload.
    fn scan(&mut self, byte: u8) -> Result<Option<Vec<u8>>, MllpError> {
        match (self.state, byte) {
            (_, START_BLOCK) => {
                if self.state != State::Outside {
                    self.skipped += self.payload.len() + 1;
                }
                self.payload.clear();
                self.state = State::Inside;
                self.deadline = Some(Instant::now() + self.limits.read_timeout);
            }
            (State::Outside, _) => {
                self.skipped += 1;
                if self.skipped > self.limits.max_bytes {
                    return Err(MllpError::NoStartBlock {
                        skipped: self.skipped,
                    });
                }
            }
            (State::Inside, END_BLOCK) => self.state = State::AfterEnd,
            (State::Inside, _) => {
                if self.payload.len() >= self.limits.max_bytes {
                    self.state = State::Inside;
                    let head = self.payload[..OVERSIZE_HEAD.min(self.payload.len())].to_vec();
                    return Err(MllpError::Oversize {
                        limit: self.limits.max_bytes,
                        head,
                    });
                }
                self.payload.push(byte);
            }
            (State::AfterEnd, CARRIAGE_RETURN) => {
                self.state = State::Outside;
                return Ok(Some(std::mem::take(&mut self.payload)));
            }
            (State::AfterEnd, found) => {
                self.state = State::Outside;
                return Err(MllpError::BadEndBlock { found });
            }
        }
        Ok(None)
    }

    /// Refill the buffer; false on EOF. The timeout depends on whether a frame is open.
    async fn fill(&mut self) -> Result<bool, MllpError> {
        if self.eof {
            return Ok(false);
        }
        let (limit, in_frame) = match self.state {
            State::Outside => (self.limits.idle_timeout, false),
            _ => (self.limits.read_timeout, true),
        };
        let deadline = match (in_frame, self.deadline) {
            (true, Some(d)) => d,
            _ => Instant::now() + limit,
        };
        match tokio::time::timeout_at(deadline, self.inner.read(&mut self.buf)).await {
            Ok(Ok(n)) => {
                self.pos = 0;
                self.len = n;
                Ok(n > 0)
            }
            Ok(Err(e)) => Err(MllpError::Io(e)),
            Err(_) if in_frame => Err(MllpError::ReadTimeout(limit)),
            Err(_) => Err(MllpError::IdleTimeout(limit)),
        }
    }
}

/// Wrap a payload in an MLLP frame.
pub fn encode_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 3);
    out.push(START_BLOCK);
    out.extend_from_slice(payload);
    out.push(END_BLOCK);
    out.push(CARRIAGE_RETURN);
    out
}

/// The sending side of one MLLP exchange: writes `payload` as one frame on `stream` and returns
/// the payload of the peer's answer frame (an HL7 ACK), read by [`MllpReader`] under `limits`.
/// The write is bounded by `limits.read_timeout`; the wait for the answer's start block by
/// `limits.idle_timeout` (the peer may first make the message durable), its frame by
/// `limits.read_timeout`.
pub async fn exchange<S>(
    stream: &mut S,
    payload: &[u8],
    limits: FrameLimits,
) -> Result<Vec<u8>, MllpError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let write = async {
        stream.write_all(&encode_frame(payload)).await?;
        stream.flush().await
    };
    match tokio::time::timeout(limits.read_timeout, write).await {
        Ok(written) => written?,
        Err(_) => return Err(MllpError::WriteTimeout(limits.read_timeout)),
    }
    MllpReader::new(stream, limits)
        .next_frame()
        .await?
        .ok_or(MllpError::NoAnswer)
}

/// Strip MLLP framing from one message read from a file (CLI `findings`): surrounding white
/// space, a leading 0x0B and a trailing 0x1C (0x0D). Unframed bytes come back unchanged.
pub fn unframe(bytes: &[u8]) -> &[u8] {
    let is_space = |b: &u8| b.is_ascii_whitespace();
    let start = bytes
        .iter()
        .position(|b| !is_space(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |i| i + 1);
    let mut inner = &bytes[start..end.max(start)];
    if let [START_BLOCK, rest @ ..] = inner {
        inner = rest;
    }
    if let [rest @ .., END_BLOCK] = inner {
        inner = rest;
    }
    inner
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_bytes: usize) -> FrameLimits {
        FrameLimits {
            max_bytes,
            read_timeout: Duration::from_millis(200),
            idle_timeout: Duration::from_secs(5),
        }
    }

    async fn frames(input: &[u8], max: usize) -> (Vec<Vec<u8>>, Option<MllpError>) {
        let mut reader = MllpReader::new(input, limits(max));
        let mut out = Vec::new();
        loop {
            match reader.next_frame().await {
                Ok(Some(f)) => out.push(f),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[tokio::test]
    async fn exchange_sends_one_frame_and_reads_the_answer() {
        let (mut client, server) = tokio::io::duplex(1024);
        let peer = tokio::spawn(async move {
            let (rd, mut wr) = tokio::io::split(server);
            let mut reader = MllpReader::new(rd, limits(100));
            let got = reader.next_frame().await.expect("frame");
            // A stray byte before the answer's start block is skipped, as on the server side.
            wr.write_all(b"\n").await.expect("write");
            wr.write_all(&encode_frame(b"MSA|AA|1"))
                .await
                .expect("write");
            got
        });
        let answer = exchange(&mut client, b"MSH|1", limits(100))
            .await
            .expect("answer");
        assert_eq!(answer, b"MSA|AA|1");
        assert_eq!(peer.await.expect("peer"), Some(b"MSH|1".to_vec()));
        let (mut client, server) = tokio::io::duplex(1024);
        drop(server);
        let err = exchange(&mut client, b"MSH|2", limits(100))
            .await
            .expect_err("no peer");
        assert!(
            matches!(err, MllpError::Io(_) | MllpError::NoAnswer),
            "{err}"
        );
    }

    #[test]
    fn unframe_strips_framing_only() {
        assert_eq!(unframe(b"\x0bMSH|a\r\x1c\x0d\n"), b"MSH|a\r");
        assert_eq!(unframe(b"MSH|a\rPID|1\n"), b"MSH|a\rPID|1");
        assert_eq!(unframe(b" \n"), b"");
    }

    #[tokio::test]
    async fn ready_frames_come_without_waiting() {
        let (mut client, server) = tokio::io::duplex(4096);
        let mut bytes = encode_frame(b"MSH|1");
        bytes.extend(encode_frame(b"MSH|2"));
        bytes.extend(b"\x0bMSH|3 partial");
        tokio::io::AsyncWriteExt::write_all(&mut client, &bytes)
            .await
            .expect("write");
        let mut reader = MllpReader::new(server, limits(100));
        assert_eq!(
            reader.next_frame().await.expect("first"),
            Some(b"MSH|1".to_vec())
        );
        assert_eq!(reader.next_ready_frame().await, Some(b"MSH|2".to_vec()));
        assert_eq!(
            reader.next_ready_frame().await,
            None,
            "partial frame: no wait"
        );
        tokio::io::AsyncWriteExt::write_all(&mut client, b"\x1c\x0d")
            .await
            .expect("write");
        drop(client);
        assert_eq!(
            reader.next_ready_frame().await,
            Some(b"MSH|3 partial".to_vec())
        );
        assert_eq!(reader.next_ready_frame().await, None);
        assert_eq!(reader.next_frame().await.expect("EOF"), None);
    }

    #[tokio::test]
    async fn error_seen_ahead_is_reported_by_next_frame() {
        let mut input = encode_frame(b"MSH|1");
        input.extend(encode_frame(b"MSH|2"));
        input.extend(b"\x0bMSH|3\x1cX");
        let mut reader = MllpReader::new(&input[..], limits(100));
        assert!(reader.next_frame().await.expect("first").is_some());
        assert_eq!(reader.next_ready_frame().await, Some(b"MSH|2".to_vec()));
        assert_eq!(reader.next_ready_frame().await, None);
        let err = reader.next_frame().await.expect_err("deferred error");
        assert!(
            matches!(err, MllpError::BadEndBlock { found: b'X' }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn two_frames_back_to_back() {
        let mut input = encode_frame(b"MSH|one");
        input.extend(encode_frame(b"MSH|two"));
        let (got, err) = frames(&input, 100).await;
        assert_eq!(got, vec![b"MSH|one".to_vec(), b"MSH|two".to_vec()]);
        assert!(err.is_none());
    }

    #[tokio::test]
    async fn garbage_before_and_between_frames_is_skipped() {
        let mut input = b"GET / HTTP/1.0\r\n".to_vec();
        input.extend(encode_frame(b"MSH|one"));
        input.extend(b"\n\n");
        input.extend(encode_frame(b"MSH|two"));
        let mut reader = MllpReader::new(&input[..], limits(100));
        assert_eq!(
            reader.next_frame().await.expect("frame"),
            Some(b"MSH|one".to_vec())
        );
        assert_eq!(reader.take_skipped(), 16);
        assert_eq!(
            reader.next_frame().await.expect("frame"),
            Some(b"MSH|two".to_vec())
        );
        assert_eq!(reader.take_skipped(), 2);
    }

    #[tokio::test]
    async fn too_much_garbage_is_an_error() {
        let (got, err) = frames(&[b'x'; 50], 10).await;
        assert!(got.is_empty());
        assert!(matches!(err, Some(MllpError::NoStartBlock { skipped: 11 })));
    }

    #[tokio::test]
    async fn oversize_payload_keeps_its_head() {
        let mut input = vec![START_BLOCK];
        input.extend(b"MSH|^~\\&|a");
        input.extend([b'x'; 20]);
        let (_, err) = frames(&input, 16).await;
        match err {
            Some(MllpError::Oversize { limit: 16, head }) => assert!(head.starts_with(b"MSH|")),
            other => panic!("expected oversize, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn payload_of_exactly_the_limit_is_accepted() {
        let (got, err) = frames(&encode_frame(&[b'a'; 16]), 16).await;
        assert_eq!(got.len(), 1);
        assert!(err.is_none());
    }

    #[tokio::test]
    async fn restart_inside_a_frame_drops_the_partial_one() {
        let mut input = vec![START_BLOCK];
        input.extend(b"MSH|lost");
        input.extend(encode_frame(b"MSH|kept"));
        let (got, err) = frames(&input, 100).await;
        assert_eq!(got, vec![b"MSH|kept".to_vec()]);
        assert!(err.is_none());
    }

    #[tokio::test]
    async fn end_block_without_carriage_return_is_an_error() {
        let (_, err) = frames(b"\x0bMSH|a\x1cX", 100).await;
        assert!(matches!(err, Some(MllpError::BadEndBlock { found: b'X' })));
    }

    #[tokio::test]
    async fn eof_inside_a_frame_is_truncation() {
        let (_, err) = frames(b"\x0bMSH|abc", 100).await;
        assert!(matches!(err, Some(MllpError::Truncated(7))));
    }

    #[tokio::test]
    async fn frame_without_end_block_times_out() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut reader = MllpReader::new(server, limits(100));
        tokio::io::AsyncWriteExt::write_all(&mut client, b"\x0bMSH|never ends")
            .await
            .expect("write");
        let err = reader.next_frame().await.expect_err("must time out");
        assert!(matches!(err, MllpError::ReadTimeout(_)), "{err}");
    }

    /// Issue 18: a peer that trickles bytes (each read within `read_timeout`) no longer holds
    /// the frame open: the whole frame must arrive within `read_timeout` of its start block.
    #[tokio::test]
    async fn a_trickled_frame_meets_one_deadline() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut reader = MllpReader::new(server, limits(100));
        let writer = tokio::spawn(async move {
            tokio::io::AsyncWriteExt::write_all(&mut client, b"\x0bMSH|")
                .await
                .ok();
            // A byte every 80 ms: each read is within the 200 ms limit, the frame is not.
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(80)).await;
                if tokio::io::AsyncWriteExt::write_all(&mut client, b"x")
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        let started = std::time::Instant::now();
        let err = reader
            .next_frame()
            .await
            .expect_err("the frame's deadline passes");
        assert!(matches!(err, MllpError::ReadTimeout(_)), "{err}");
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
        writer.abort();
    }

    /// Issue 18: 0x1C with no 0x0D after it ends the frame, at EOF or after END_GRACE with the
    /// connection still open (the sender waits for its ACK).
    #[tokio::test]
    async fn end_block_without_carriage_return_at_the_end_is_a_frame() {
        let (got, err) = frames(b"\x0bMSH|a\x1c", 100).await;
        assert_eq!(got, vec![b"MSH|a".to_vec()]);
        assert!(err.is_none(), "{err:?}");
        let (mut client, server) = tokio::io::duplex(1024);
        let mut reader = MllpReader::new(server, limits(100));
        tokio::io::AsyncWriteExt::write_all(&mut client, b"\x0bMSH|b\x1c")
            .await
            .expect("write");
        let got = reader.next_frame().await.expect("frame after the grace");
        assert_eq!(got, Some(b"MSH|b".to_vec()));
        // A late 0x0D is then a stray byte outside a frame, and the next frame still reads.
        tokio::io::AsyncWriteExt::write_all(&mut client, &[CARRIAGE_RETURN])
            .await
            .expect("write");
        tokio::io::AsyncWriteExt::write_all(&mut client, &encode_frame(b"MSH|c"))
            .await
            .expect("write");
        assert_eq!(
            reader.next_frame().await.expect("next"),
            Some(b"MSH|c".to_vec())
        );
    }

    #[tokio::test]
    async fn frames_split_across_reads() {
        let (mut client, server) = tokio::io::duplex(4);
        let writer = tokio::spawn(async move {
            let bytes = encode_frame(b"MSH|split into many small reads");
            tokio::io::AsyncWriteExt::write_all(&mut client, &bytes)
                .await
                .expect("write");
        });
        let mut reader = MllpReader::new(server, limits(100));
        let got = reader.next_frame().await.expect("frame");
        assert_eq!(got, Some(b"MSH|split into many small reads".to_vec()));
        writer.await.expect("writer");
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_payload_without_control_bytes_round_trips(
            payloads in proptest::collection::vec(
                proptest::collection::vec(
                    any::<u8>().prop_filter("no block bytes", |b| *b != START_BLOCK && *b != END_BLOCK),
                    0..200),
                1..5)
        ) {
            let input: Vec<u8> = payloads.iter().flat_map(|p| encode_frame(p)).collect();
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
            let (got, err) = rt.block_on(frames(&input, 1000));
            prop_assert!(err.is_none());
            prop_assert_eq!(got, payloads);
        }
    }
}
