//! Real peers started by tests: a dcmtk `storescp` destination that SEGs are delivered to.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::{files_below, tool};

/// A free loopback port (bound then released; good enough for tests on one machine).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// dcmtk `storescp -od DIR -aet AE PORT`, killed on drop.
pub struct Storescp {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Storescp {
    pub fn start(dir: &Path, ae: &str, port: u16) -> Storescp {
        std::fs::create_dir_all(dir).expect("create storescp dir");
        let child = tool("storescp")
            .args(["-od"])
            .arg(dir)
            .args(["-aet", ae, &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start storescp");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "storescp did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Storescp {
            child,
            port,
            dir: dir.to_owned(),
        }
    }

    /// Files received so far.
    pub fn received(&self) -> Vec<PathBuf> {
        files_below(&self.dir)
    }

    /// Waits until at least `n` files were received.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<PathBuf> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Storescp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
