//! Issue 18: the memory an HL7 message costs is bounded by a small multiple of its size. A
//! 3.99 MB ORU of 30,000 OBX segments once cost ~250 MB to parse (12 in parallel: 3 GB). The
//! peak resident memory of this process (VmHWM, reset through /proc/self/clear_refs) is
//! measured around each parse; the tests of this binary run one at a time.

use std::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn status_kb(key: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} missing from /proc/self/status"))
}

/// Peak resident bytes while `f` runs, above the resident size before it.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    // "5" resets the peak resident size to the current one (Linux 4.0 and later).
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM via /proc/self/clear_refs");
    let base = status_kb("VmRSS:");
    let out = f();
    let peak = status_kb("VmHWM:");
    (out, peak.saturating_sub(base) * 1024)
}

fn header() -> String {
    "MSH|^~\\&|RIS|HOSP|PETGROUND|HOSP|20261203120000||ORU^R01|MEM1|P|2.5\r\
     PID|||PAT1\rOBR|1||ACC1|||20261203|||||||||||ACC1||||||F\r"
        .to_owned()
}

/// ~4 MB of OBX segments, each a short report line.
fn many_obx(target: usize) -> Vec<u8> {
    let mut m = header();
    let mut i = 0;
    while m.len() < target {
        i += 1;
        m.push_str(&format!(
            "OBX|{i}|TX|^FINDINGS||Node {i}, SUVmax 3.{}.||||||F\r",
            i % 10
        ));
    }
    m.into_bytes()
}

/// Allowed peak per message byte: the decoded text, its normalised copy, the report text and
/// the raw bytes kept in the report are each about one message size.
const FACTOR: usize = 8;

#[test]
fn a_message_of_30000_obx_costs_a_small_multiple_of_its_size() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let msg = many_obx(3_990_000);
    let segments = msg.split(|&b| b == b'\r').count();
    assert!(segments > 30_000, "{segments} segments");
    let (parsed, peak) = peak_during(|| petground::hl7::oru::parse(&msg).map(|r| r.text.len()));
    let text_len = parsed.expect("a valid ORU");
    assert!(text_len > 1_000_000, "the text is all there: {text_len}");
    println!(
        "parse: {} bytes in, peak {} bytes ({:.1}x)",
        msg.len(),
        peak,
        peak as f64 / msg.len() as f64
    );
    assert!(
        peak <= FACTOR * msg.len(),
        "peak {peak} bytes for a {} byte message",
        msg.len()
    );
    let (_, peak) = peak_during(|| petground::hl7::oru::parse_text(&msg).map(|t| t.len()));
    assert!(peak <= FACTOR * msg.len(), "parse_text peak {peak}");
}

#[test]
fn a_message_of_nothing_but_separators_is_refused_cheaply() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    for filler in ["|", "^", "~", "|^~&"] {
        let mut m = header();
        m.push_str("OBX|1|TX|^FINDINGS||");
        m.push_str(&filler.repeat(3_900_000 / filler.len()));
        let msg = m.into_bytes();
        let (_, peak) = peak_during(|| petground::hl7::oru::parse(&msg).map(|r| r.text.len()));
        assert!(
            peak <= FACTOR * msg.len(),
            "{filler:?}: peak {peak} bytes for {} bytes",
            msg.len()
        );
    }
}
