//! The control socket (`data_dir/petground.sock`): how `petground status`, `resend` and
//! `reprocess` talk to the running node. One request per connection: the client writes one JSON
//! object on one line, the node answers one JSON object on one line and closes (README,
//! "Control socket"). Both carry `"v": 1`; a request of another version is answered with an
//! `unsupported` error. A client that sends nothing (the protocol before version 1) gets the
//! full status text after [`server::LEGACY_WAIT`].
//!
//! This module owns the messages, the node's side ([`server`]) and a blocking client
//! ([`request`]) for the command line; what each request does is the store's and the status
//! module's.

pub mod server;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::status::{self, Document, Filter};

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

/// The longest request line the node reads.
pub const MAX_REQUEST_BYTES: u64 = 64 * 1024;

/// A request: `{"v":1,"op":"status",…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub v: u32,
    #[serde(flatten)]
    pub op: Op,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// The status document, of one study when `study` or `accession` is given.
    Status {
        #[serde(default)]
        study: Option<String>,
        #[serde(default)]
        accession: Option<String>,
    },
    /// Queue the SEG with this SOP Instance UID, and its SR, again (to `to`, or to the
    /// destinations it went to before).
    Resend {
        seg: String,
        #[serde(default)]
        to: Option<String>,
    },
    /// Run the study's newest job again as a new job version.
    Reprocess {
        #[serde(default)]
        study: Option<String>,
        #[serde(default)]
        accession: Option<String>,
    },
}

/// An answer: `{"v":1,"reply":"status","status":{…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub v: u32,
    #[serde(flatten)]
    pub reply: Reply,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "kebab-case")]
pub enum Reply {
    Status {
        status: Box<Document>,
    },
    /// The new outbox entries, in queue order.
    Resent {
        seg: String,
        deliveries: Vec<u64>,
    },
    /// The new job, queued.
    Reprocessing {
        study: String,
        job: String,
        version: u32,
    },
    Error {
        kind: ErrorKind,
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// Not JSON, an unknown op, a malformed UID.
    BadRequest,
    /// Another protocol version.
    Unsupported,
    /// No such SEG, study or job.
    NotFound,
    /// The request clashes with what is going on (the SEG is still pending, the job runs).
    Conflict,
    /// The node could not do it (the store failed).
    Internal,
}

impl Reply {
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Self {
        Reply::Error {
            kind,
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node answered with an error.
    #[error("{message}")]
    Refused { kind: ErrorKind, message: String },
    /// Reading the index directly (no node running) failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("the node is not running (no node answers on {path})")]
    NotRunning { path: PathBuf },
    #[error("control socket {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("control socket {path}: unreadable answer: {message}")]
    BadAnswer { path: PathBuf, message: String },
}

/// How long the client waits for the node's answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Sends `op` to the node listening on `socket` and returns its reply.
pub fn request(socket: &Path, op: Op) -> Result<Reply, ClientError> {
    let io = |source| ClientError::Io {
        path: socket.to_owned(),
        source,
    };
    let mut conn = match std::os::unix::net::UnixStream::connect(socket) {
        Ok(c) => c,
        Err(e) if not_listening(&e) => {
            return Err(ClientError::NotRunning {
                path: socket.to_owned(),
            });
        }
        Err(e) => return Err(io(e)),
    };
    conn.set_read_timeout(Some(CLIENT_TIMEOUT)).map_err(io)?;
    conn.set_write_timeout(Some(CLIENT_TIMEOUT)).map_err(io)?;
    let mut line = serde_json::to_string(&Request { v: VERSION, op })
        .expect("requests are plain data and always serialise");
    line.push('\n');
    conn.write_all(line.as_bytes()).map_err(io)?;
    let mut answer = String::new();
    BufReader::new(conn).read_line(&mut answer).map_err(io)?;
    let bad = |message: String| ClientError::BadAnswer {
        path: socket.to_owned(),
        message,
    };
    let response: Response = serde_json::from_str(&answer).map_err(|e| bad(e.to_string()))?;
    if response.v != VERSION {
        return Err(bad(format!("protocol version {}", response.v)));
    }
    Ok(response.reply)
}

/// The status document of the node whose data dir is `data_dir`: asked through its control
/// socket when it runs, else read from the index directly (`None`: there is no index yet).
pub fn status_document(data_dir: &Path, filter: Filter) -> Result<Option<Document>, ClientError> {
    let layout = crate::store::Layout::new(data_dir);
    let op = Op::Status {
        study: filter.study.clone(),
        accession: filter.accession.clone(),
    };
    match request(&layout.control_socket(), op) {
        Ok(Reply::Status { status }) => Ok(Some(*status)),
        Ok(other) => Err(refused(other)),
        Err(ClientError::NotRunning { .. }) if !layout.index().exists() => Ok(None),
        Err(ClientError::NotRunning { .. }) => {
            let store = crate::store::Store::open(data_dir)?;
            Ok(Some(status::document(
                &store,
                &filter,
                status::Source::Store,
            )?))
        }
        Err(e) => Err(e),
    }
}

/// An unexpected reply as an error.
pub fn refused(reply: Reply) -> ClientError {
    match reply {
        Reply::Error { kind, message } => ClientError::Refused { kind, message },
        other => ClientError::Refused {
            kind: ErrorKind::Internal,
            message: format!("unexpected answer {other:?}"),
        },
    }
}

/// A socket file without a node behind it (stale after `kill -9`) or no socket file at all.
fn not_listening(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionRefused, NotFound};
    matches!(e.kind(), NotFound | ConnectionRefused)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire form the README documents.
    #[test]
    fn messages_on_the_wire() {
        let req = Request {
            v: 1,
            op: Op::Resend {
                seg: "1.2".into(),
                to: None,
            },
        };
        let json = serde_json::to_string(&req).expect("serialise");
        assert_eq!(json, r#"{"v":1,"op":"resend","seg":"1.2","to":null}"#);
        let short: Request = serde_json::from_str(r#"{"v":1,"op":"status"}"#).expect("parse");
        assert_eq!(
            short.op,
            Op::Status {
                study: None,
                accession: None
            }
        );
        let rsp = Response {
            v: 1,
            reply: Reply::error(ErrorKind::NotFound, "no such SEG"),
        };
        let json = serde_json::to_string(&rsp).expect("serialise");
        assert_eq!(
            json,
            r#"{"v":1,"reply":"error","kind":"not-found","message":"no such SEG"}"#
        );
        assert_eq!(serde_json::from_str::<Response>(&json).expect("parse"), rsp);
    }
}
