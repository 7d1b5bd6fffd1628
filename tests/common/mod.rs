//! Shared integration-test harness: start a real `petground serve` on loopback port 0, find the
//! real peer tools (dcmtk, the project venv), and write small synthetic DICOM instances.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod dicomgen;
pub mod peers;
pub mod score;
pub mod segread;
pub mod study;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A dcmtk (or dicom3tools) command from /usr/bin. pynetdicom installs commands with the same
/// names into the venv, so the system path is used explicitly.
pub fn tool(name: &str) -> Command {
    let path = Path::new("/usr/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup-test-env (apt: dcmtk, dicom3tools)",
        path.display()
    );
    let mut c = Command::new(path);
    c.env("TCP_NODELAY", "1");
    c
}

/// The project's Python (PETGROUND_PYTHON, else `.venv/bin/python` at the repository root).
pub fn python() -> PathBuf {
    let p = std::env::var_os("PETGROUND_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup-test-env",
        p.display()
    );
    p
}

/// A running node with its own data dir; killed (SIGKILL) on drop.
pub struct Node {
    pub child: Child,
    pub dicom: SocketAddr,
    pub hl7: SocketAddr,
    pub dir: PathBuf,
    pub config: PathBuf,
    log: std::sync::Mutex<mpsc::Receiver<String>>,
}

/// Writes a config whose listeners (the web page's too) use port 0 and whose data dir is
/// `dir/var`. `extra` follows `[dicom]` (it may continue that table); `[web]` comes last.
pub fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let text = format!(
        "[node]\nae_title = \"PETGROUND\"\ndicom_listen = \"127.0.0.1:0\"\nhl7_listen = \"127.0.0.1:0\"\n\
         data_dir = \"{}\"\n\n[dicom]\nmin_free_disk_mb = 1\n{extra}\n[web]\nlisten = \"127.0.0.1:0\"\n",
        dir.join("var").display()
    );
    let path = dir.join("petground.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

impl Node {
    pub fn start(dir: &Path, extra_config: &str) -> Node {
        let config = write_config(dir, extra_config);
        Self::start_with(dir, config)
    }

    /// Starts (or restarts) a node on an existing config.
    pub fn start_with(dir: &Path, config: PathBuf) -> Node {
        Self::start_program(Command::new(env!("CARGO_BIN_EXE_petground")), dir, config)
    }

    /// Starts `program serve --config CONFIG` (another petground binary, another working
    /// directory: tests/install.rs runs an installed one from `/`).
    pub fn start_program(mut program: Command, dir: &Path, config: PathBuf) -> Node {
        let mut child = program
            .args(["serve", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start petground serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[node] {line}");
                if tx.send(line).is_err() {
                    // keep draining so the node never blocks on a full pipe
                }
            }
        });
        let (dicom, hl7) = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("node did not report `petground listening` within 30 s");
            if line.contains("petground listening") {
                let addr = |key: &str| -> SocketAddr {
                    line.split_whitespace()
                        .find_map(|w| w.strip_prefix(key))
                        .expect("listening line names the address")
                        .parse()
                        .expect("address parses")
                };
                break (addr("dicom="), addr("hl7="));
            }
        };
        Node {
            child,
            dicom,
            hl7,
            dir: dir.to_owned(),
            config,
            log: std::sync::Mutex::new(rx),
        }
    }

    pub fn port(&self) -> String {
        self.dicom.port().to_string()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("var")
    }

    /// Waits for a log line containing `needle` (lines seen before are consumed).
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            let rx = self.log.lock().expect("log receiver");
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    /// `petground status --all` (every item, one line each) against this node's config.
    pub fn status(&self) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_petground"))
            .args(["status", "--all", "--config"])
            .arg(&self.config)
            .output()
            .expect("run petground status");
        assert!(
            out.status.success(),
            "status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().expect("wait for node")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `echoscu` against the node with the given AE titles; returns (success, stderr+stdout).
pub fn echo(node: &Node, calling: &str, called: &str) -> (bool, String) {
    let out = tool("echoscu")
        .args(["-aet", calling, "-aec", called, "127.0.0.1", &node.port()])
        .output()
        .expect("run echoscu");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// `storescu` of the given files; returns (success, output).
pub fn storescu(node: &Node, args: &[&str], files: &[PathBuf]) -> (bool, String) {
    let out = tool("storescu")
        .args(["-aec", "PETGROUND"])
        .args(args)
        .arg("127.0.0.1")
        .arg(node.port())
        .args(files)
        .output()
        .expect("run storescu");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// The data set bytes of a Part 10 file (everything after the file meta group).
pub fn dataset_bytes(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).expect("read DICOM file");
    assert_eq!(
        &bytes[128..132],
        b"DICM",
        "{} is not a Part 10 file",
        path.display()
    );
    // (0002,0000) UL group length: tag(4) VR(2) len(2) value(4) at offset 132.
    let group_len = u32::from_le_bytes([bytes[140], bytes[141], bytes[142], bytes[143]]) as usize;
    bytes[144 + group_len..].to_vec()
}

/// Every file below `dir`, recursively.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// An ORU^R01 report (segments separated by `\r`) with the given control ID, accession,
/// optional Study Instance UID (OBX 113014), result status and text lines.
pub fn oru(
    control_id: &str,
    accession: &str,
    study_uid: Option<&str>,
    status: &str,
    lines: &[&str],
) -> String {
    let mut obr = vec![""; 26];
    obr[0] = "OBR";
    obr[1] = "1";
    obr[3] = accession;
    obr[4] = "PETCT^PET/CT WHOLE BODY";
    obr[7] = "20261128";
    obr[18] = accession;
    obr[25] = status;
    let mut segs = vec![
        format!(
            "MSH|^~\\&|RIS|HOSP|PETGROUND|NM|20261128120000||ORU^R01^ORU_R01|{control_id}|P|2.5.1"
        ),
        "PID|1||PHANTOM-1^^^HOSP||Test^Phantom".to_owned(),
        format!("ORC|RE||{accession}"),
        obr.join("|"),
    ];
    let mut n = 0;
    if let Some(uid) = study_uid {
        n += 1;
        segs.push(format!("OBX|{n}|ST|113014^DICOM Study^DCM||{uid}||||||F"));
    }
    for l in lines {
        n += 1;
        segs.push(format!("OBX|{n}|TX|59776-5^Findings^LN||{l}||||||F"));
    }
    segs.join("\r") + "\r"
}

/// Sends one message with the real client (`mllp_send --loose` from PyPI `hl7`); returns the ACK.
pub fn mllp_send(node: &Node, message: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("msg.hl7");
    std::fs::write(&file, message).expect("write message");
    let bin = python().parent().expect("venv bin").join("mllp_send");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/setup-test-env",
        bin.display()
    );
    let out = Command::new(bin)
        .args(["--loose", "-p", &node.hl7.port().to_string(), "-f"])
        .arg(&file)
        .arg("127.0.0.1")
        .output()
        .expect("run mllp_send");
    assert!(
        out.status.success(),
        "mllp_send failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `petground status` until it contains `needle`; returns the last status text.
pub fn wait_status(node: &Node, needle: &str, timeout: Duration) -> String {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let status = node.status();
        if status.contains(needle) || std::time::Instant::now() > deadline {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
