//! The little HTTP/1.1 the web page needs, as pure functions: parse a request head (GET and
//! HEAD only, origin-form targets), and write a response (always `Connection: close`, always a
//! `Content-Length`). No bodies are read, no keep-alive, no chunking, no percent-decoding: the
//! routes are plain ASCII and anything else is a 404. The socket side lives in `server`.

/// A request head larger than this is answered 431 and the connection closed.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// What a request asks for. `HEAD` gets the `GET` answer without its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub head_only: bool,
    /// The target's path, without the query.
    pub path: String,
}

/// A complete answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Extra headers (`Allow` on a 405, `Retry-After` on a 503).
    pub headers: Vec<(&'static str, &'static str)>,
}

pub const HTML: &str = "text/html; charset=utf-8";
pub const TEXT: &str = "text/plain; charset=utf-8";
/// The Prometheus text exposition format, version 0.0.4.
pub const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const PNG: &str = "image/png";

impl Response {
    pub fn ok(content_type: &'static str, body: Vec<u8>) -> Self {
        Self {
            status: 200,
            content_type,
            body,
            headers: Vec::new(),
        }
    }

    /// A short plain-text answer for an error status.
    pub fn error(status: u16) -> Self {
        let body = format!("{status} {}\n", reason(status)).into_bytes();
        let headers = match status {
            405 => vec![("Allow", "GET, HEAD")],
            503 => vec![("Retry-After", "1")],
            _ => Vec::new(),
        };
        Self {
            status,
            content_type: TEXT,
            body,
            headers,
        }
    }

    /// The bytes on the wire; for `HEAD` the headers alone (with the body's length).
    pub fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
             Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
             Content-Security-Policy: default-src 'none'; img-src 'self'; style-src 'unsafe-inline'\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if !head_only {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }
}

/// The reason phrase of the statuses this server sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Where the head ends (the index just past its blank line), if it is complete.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Parses a complete request head; `Err` is the answer to a request we do not serve.
pub fn parse_head(head: &[u8]) -> Result<Request, Response> {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = std::str::from_utf8(&head[..line_end])
        .map_err(|_| Response::error(400))?
        .trim_end_matches('\r');
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Response::error(400));
    };
    if !is_token(method) || !target.starts_with('/') || !target.bytes().all(is_target_byte) {
        return Err(Response::error(400));
    }
    match version {
        "HTTP/1.1" | "HTTP/1.0" => {}
        v if v.starts_with("HTTP/") => return Err(Response::error(505)),
        _ => return Err(Response::error(400)),
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Err(Response::error(405)),
    };
    let path = target.split(['?', '#']).next().unwrap_or(target);
    Ok(Request {
        head_only,
        path: path.to_owned(),
    })
}

/// An HTTP method token (RFC 9110 `tchar`s).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Visible ASCII: no spaces or controls inside a request target.
fn is_target_byte(b: u8) -> bool {
    (0x21..0x7f).contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(head: &str) -> u16 {
        match parse_head(head.as_bytes()) {
            Ok(_) => 200,
            Err(r) => r.status,
        }
    }

    #[test]
    fn get_and_head_are_served_with_the_query_dropped() {
        let r = parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").expect("GET");
        assert_eq!((r.head_only, r.path.as_str()), (false, "/metrics"));
        let r = parse_head(b"HEAD / HTTP/1.0\r\n\r\n").expect("HEAD");
        assert!(r.head_only);
    }

    #[test]
    fn other_requests_get_the_status_that_says_why() {
        assert_eq!(status("POST / HTTP/1.1\r\n\r\n"), 405);
        assert_eq!(status("DELETE /metrics HTTP/1.1\r\n\r\n"), 405);
        assert_eq!(status("GET / HTTP/2.0\r\n\r\n"), 505);
        assert_eq!(status("GET / FTP/1.0\r\n\r\n"), 400);
        assert_eq!(status("GET http://x/ HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status("GET  / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status("GET /\x01 HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status("\r\n\r\n"), 400);
        assert_eq!(status("G(T / HTTP/1.1\r\n\r\n"), 400);
        assert!(parse_head(b"GET /\xff HTTP/1.1\r\n\r\n").is_err());
    }

    #[test]
    fn the_head_ends_at_the_first_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n"), None);
    }

    #[test]
    fn responses_close_and_say_their_length() {
        let text = String::from_utf8(Response::error(405).to_bytes(false)).expect("ascii");
        assert!(
            text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nAllow: GET, HEAD\r\n"), "{text}");
        assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\n405 Method Not Allowed\n"), "{text}");
        let head = Response::ok(HTML, b"<p>x</p>".to_vec()).to_bytes(true);
        let head = String::from_utf8(head).expect("ascii");
        assert!(head.contains("Content-Length: 8\r\n") && head.ends_with("\r\n\r\n"));
    }
}
