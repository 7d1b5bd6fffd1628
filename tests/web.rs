//! The web page and `/metrics` of a running node (issue 19), over real TCP: a phantom study and
//! its report pushed by dcmtk `storescu` and `mllp_send`, the job awaited through `/metrics`,
//! then the page rendered by headless Chromium (screenshot kept in `target/test-output/web/`,
//! DOM checked for the study, the job, its findings and the picture, the picture's outline colour
//! looked for in the screenshot) and fetched by a plain HTTP client. Plus the server's limits:
//! 404, 405, 400, 431, 408 and 503.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::peers::{Storescp, free_port};
use common::{Node, files_below, storescu};

/// A config on port 0 everywhere, with the given `[web]` keys after `listen`.
fn start(dir: &Path, web: &str, extra: &str) -> (Node, SocketAddr) {
    let config = dir.join("petground.toml");
    let text = format!(
        "[node]\nae_title = \"PETGROUND\"\ndicom_listen = \"127.0.0.1:0\"\n\
         hl7_listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n[dicom]\nmin_free_disk_mb = 1\n\
         [web]\nlisten = \"127.0.0.1:0\"\n{web}\n{extra}\n",
        dir.join("var").display()
    );
    std::fs::write(&config, text).expect("write config");
    let node = Node::start_with(dir, config);
    let line = node
        .wait_log("web page listening", Duration::from_secs(30))
        .expect("the node logs its web address");
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .and_then(|w| w.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no http:// address in {line:?}"));
    (node, addr)
}

/// One raw exchange: (status, head, body). The server closes the connection after answering.
fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect to the web page");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(request).expect("send request");
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).expect("read answer");
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&bytes)));
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    (status, head, bytes[end + 4..].to_vec())
}

fn get(addr: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    )
}

fn metrics(addr: SocketAddr) -> String {
    let (status, head, body) = get(addr, "/metrics");
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    String::from_utf8(body).expect("UTF-8 metrics")
}

/// The value of one sample of the exposition text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Polls `/metrics` until `name` reaches `want` (the job ran) or the deadline passes.
fn wait_metric(addr: SocketAddr, name: &str, want: f64, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = metrics(addr);
        if sample(&text, name) == Some(want) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never reached {want}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn chromium() -> PathBuf {
    let path = PathBuf::from("/usr/bin/chromium");
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup-test-env (apt: chromium)",
        path.display()
    );
    path
}

/// Runs headless Chromium with `args` on `url`; its stdout. Killed after 90 s.
fn run_chromium(profile: &Path, args: &[&str], url: &str) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--run-all-compositor-stages-before-draw",
            "--virtual-time-budget=5000",
            "--window-size=1280,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut out = String::new();
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "chromium failed: {status}");
    reader.join().expect("chromium output")
}

/// Width and height of a PNG, from its IHDR (checking the signature).
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(
        bytes.len() > 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR",
        "not a PNG ({} bytes)",
        bytes.len()
    );
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (be(16), be(20))
}

/// Pixels of the screenshot within 12 of `rgb` in every channel.
fn pixels_near(png_bytes: &[u8], rgb: [u8; 3]) -> usize {
    let mut reader = png::Decoder::new(std::io::Cursor::new(png_bytes))
        .read_info()
        .expect("screenshot is a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("frame");
    let step = info.color_type.samples();
    buf[..info.buffer_size()]
        .chunks(step)
        .filter(|p| (0..3).all(|c| p[c].abs_diff(rgb[c]) <= 12))
        .count()
}

fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-output/web");
    std::fs::create_dir_all(&dir).expect("create target/test-output/web");
    dir
}

#[test]
fn the_page_shows_the_job_its_findings_and_its_picture_in_chromium() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pacs = Storescp::start(&dir.path().join("pacs"), "PACS", free_port());
    let dest = format!(
        "[[destinations]]\nname = \"pacs\"\nae_title = \"PACS\"\naddress = \"127.0.0.1:{}\"\n\
         [routing]\nsend_seg_to = [\"pacs\"]\n[series]\nstable_seconds = 2\n",
        pacs.port
    );
    let (node, web) = start(dir.path(), "", &dest);
    let study = dir.path().join("study");
    let mut o = petground_phantom::Options::new(7);
    o.small = true;
    o.lesions = Some(3);
    let truth = petground_phantom::generate(&o, &study).expect("phantom study");
    let mut files = files_below(&study.join("pet"));
    files.extend(files_below(&study.join("ct")));
    let (ok, out) = storescu(&node, &[], &files);
    assert!(ok, "storescu failed: {out}");
    let report = std::fs::read_to_string(study.join("report.hl7")).expect("report.hl7");
    assert!(common::mllp_send(&node, &report).contains("MSA|AA|"));

    let text = wait_metric(
        web,
        "petground_jobs_total{outcome=\"done\"}",
        1.0,
        Duration::from_secs(180),
    );
    assert_eq!(sample(&text, "petground_reports_received_total"), Some(1.0));
    assert_eq!(
        sample(&text, "petground_instances_received_total"),
        Some(files.len() as f64)
    );
    assert_eq!(
        sample(&text, "petground_job_seconds_count{outcome=\"done\"}"),
        Some(1.0)
    );

    let (status, head, body) = get(web, "/");
    assert_eq!(status, 200, "{head}");
    let html = String::from_utf8(body).expect("UTF-8 page");
    let study_uid = &truth.study_instance_uid;
    let key = html
        .split("data-job=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a job on the page")
        .to_owned();
    assert!(key.starts_with(&format!("{study_uid}/")), "{key}");
    for secret in [&truth.patient_id, &truth.patient_name] {
        assert!(!html.contains(secret.as_str()), "the page shows {secret}");
    }
    let picture = format!("/pictures/{key}.png");
    let (status, head, png_bytes) = get(web, &picture);
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("Content-Type: image/png"), "{head}");
    let (w, h) = png_size(&png_bytes);
    assert!(w >= 480 && h > 100, "picture is {w}×{h}");

    let out = output_dir();
    let shot = out.join("web.png");
    let _ = std::fs::remove_file(&shot);
    let url = format!("http://{web}/");
    let profile = dir.path().join("chromium");
    run_chromium(
        &profile,
        &[&format!("--screenshot={}", shot.display())],
        &url,
    );
    eprintln!("web page screenshot: {}", shot.display());
    let dom = run_chromium(&profile, &["--dump-dom"], &url);
    std::fs::write(out.join("web.dom.html"), &dom).expect("keep the DOM");
    assert!(
        dom.contains(&format!("data-study=\"{study_uid}\"")),
        "{dom}"
    );
    assert!(
        dom.contains(&format!("data-job=\"{key}\" data-state=\"done\"")),
        "{dom}"
    );
    let grounded = dom.matches("<tr class=\"finding grounded\">").count();
    let rows = grounded + dom.matches("<tr class=\"finding not-grounded\">").count();
    assert!(
        grounded >= 1 && rows >= truth.lesions.len(),
        "{grounded}/{rows}: {dom}"
    );
    assert!(dom.contains(&format!("src=\"{picture}\"")), "{dom}");
    assert!(dom.contains("seg to pacs:"), "deliveries shown: {dom}");
    // The picture was drawn: the first segment's outline colour (pipeline::picture) is on screen.
    let shot_bytes = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert_eq!(png_size(&shot_bytes), (1280, 900));
    let red = pixels_near(&shot_bytes, [230, 25, 75]);
    assert!(
        red > 20,
        "no outline colour in the screenshot ({red} pixels)"
    );
}

#[test]
fn metrics_and_the_limits_of_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let web_keys = "max_connections = 2\nread_timeout_seconds = 1";
    let (_node, web) = start(dir.path(), web_keys, "");

    // Before any other request: two silent connections take both slots (the server accepts in
    // order), so a third is refused at once; the two time out with 408.
    let mut idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(web).expect("connect"))
        .collect();
    let (status, head, _) = get(web, "/metrics");
    assert_eq!(status, 503, "{head}");
    assert!(head.contains("Retry-After: 1"), "{head}");
    for s in &mut idle {
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut answer = String::new();
        s.read_to_string(&mut answer).expect("read 408");
        assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    }
    let text = metrics_soon(web);
    for zero in [
        "petground_instances_received_total",
        "petground_reports_received_total",
        "petground_jobs_total{outcome=\"done\"}",
        "petground_jobs_total{outcome=\"failed\"}",
        "petground_jobs_total{outcome=\"skipped\"}",
        "petground_jobs_pending{state=\"queued\"}",
        "petground_deliveries_total{kind=\"seg\",state=\"sent\"}",
        "petground_deliveries_pending{kind=\"seg\"}",
        "petground_job_seconds_count{outcome=\"done\"}",
    ] {
        assert_eq!(sample(&text, zero), Some(0.0), "{zero} in\n{text}");
    }
    assert!(
        text.contains("# TYPE petground_job_seconds histogram"),
        "{text}"
    );
    assert_eq!(
        sample(&text, "petground_http_responses_total{code=\"408\"}"),
        Some(2.0)
    );
    assert!(sample(&text, "petground_http_responses_total{code=\"503\"}") >= Some(1.0));

    assert_eq!(get(web, "/nothing-here").0, 404);
    assert_eq!(get(web, "/pictures/1.2/1.png").0, 404, "no such job");
    assert_eq!(get(web, "/pictures/../index.redb").0, 404);
    let (status, head, _) = exchange(web, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(status, 405, "{head}");
    assert!(head.contains("Allow: GET, HEAD"), "{head}");
    assert_eq!(exchange(web, b"GARBAGE\r\n\r\n").0, 400);
    let (status, head, body) = exchange(web, b"HEAD / HTTP/1.1\r\n\r\n");
    assert_eq!(status, 200, "{head}");
    assert!(
        body.is_empty() && head.contains("Content-Length: "),
        "{head}"
    );
    let mut big = b"GET / HTTP/1.1\r\nX-Padding: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 9 * 1024));
    big.extend_from_slice(b"\r\n\r\n");
    let (status, head, _) = exchange(web, &big);
    assert_eq!(status, 431, "{head}");
}

/// `/metrics`, retried while the server still counts the slots of connections just closed.
fn metrics_soon(addr: SocketAddr) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, _) = get(addr, "/metrics");
        if status != 503 || Instant::now() > deadline {
            return metrics(addr);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
