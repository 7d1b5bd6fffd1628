//! What the accept loops of the node's listeners (DICOM SCP, HL7, status socket) share: which
//! accept errors a listener survives, and how long it backs off after one. `main` binds the
//! sockets; each service owns its own loop.

use std::io;
use std::time::Duration;

/// Pause after a transient accept error (typically EMFILE), instead of spinning on it.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Whether an accept error means the listening socket can never accept again: EINVAL, "socket
/// is not listening". Everything else — EMFILE/ENFILE, ENOBUFS/ENOMEM, ECONNABORTED, EINTR and
/// the network errors Linux passes on from a new connection — is transient: the loop logs it,
/// backs off and accepts again. A fatal one ends the service with an error, which stops the
/// node (exit 1) rather than leaving it up without that listener, logging forever.
pub fn is_fatal(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidInput
}
