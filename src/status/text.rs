//! The status document as text: a one-screen summary (counts by state, the newest studies, jobs
//! and deliveries, free disk) or the full lists, one line per item, newest first, times in UTC.
//! No patient names or IDs (the document carries none).

use std::fmt::Write;

use super::doc::*;

/// How many of the newest studies, jobs and deliveries the summary lists.
pub const SUMMARY_SHOWN: usize = 5;

/// The summary: what an operator reads first.
pub fn summary(d: &Document) -> String {
    let mut out = header(d);
    counts(&mut out, d);
    let shown = |n: usize| n.min(SUMMARY_SHOWN);
    let _ = writeln!(
        out,
        "newest studies ({} of {}):",
        shown(d.studies.len()),
        d.studies.len()
    );
    for s in d.studies.iter().take(SUMMARY_SHOWN) {
        study_line(&mut out, s);
    }
    let _ = writeln!(
        out,
        "newest jobs ({} of {}):",
        shown(d.jobs.len()),
        d.jobs.len()
    );
    for j in d.jobs.iter().take(SUMMARY_SHOWN) {
        job_line(&mut out, j);
    }
    let n = d.deliveries.len();
    let _ = writeln!(out, "newest deliveries ({} of {n}):", shown(n));
    for e in d.deliveries.iter().take(SUMMARY_SHOWN) {
        delivery_line(&mut out, e);
    }
    out.push_str("(every item: --all; one study: --study UID or --accession A; JSON: --json)\n");
    out
}

/// Every item of the document, by kind, newest first.
pub fn full(d: &Document) -> String {
    let mut out = header(d);
    let _ = writeln!(out, "studies: {}", d.studies.len());
    for s in &d.studies {
        study_line(&mut out, s);
    }
    let _ = writeln!(out, "series: {}", d.series.len());
    for s in &d.series {
        series_line(&mut out, s);
    }
    let _ = writeln!(out, "reports: {}", d.reports.len());
    for r in &d.reports {
        report_line(&mut out, r);
    }
    let _ = writeln!(out, "jobs: {}", d.jobs.len());
    for j in &d.jobs {
        job_line(&mut out, j);
        for f in &j.findings {
            finding_line(&mut out, f);
        }
    }
    let _ = writeln!(out, "deliveries: {}", d.deliveries.len());
    for e in &d.deliveries {
        delivery_line(&mut out, e);
    }
    let _ = writeln!(out, "events: {}", d.counts.events);
    for e in &d.events {
        let _ = writeln!(out, "  #{} {} {}", e.id, utc(e.unix), e.event);
    }
    out
}

fn header(d: &Document) -> String {
    let node = match d.source.as_str() {
        "node" => "node running",
        _ => "node not running (read from the index)",
    };
    let free = d
        .disk_free_bytes
        .map(bytes)
        .unwrap_or_else(|| "unknown".into());
    let mut out = format!(
        "petground status at {}: {node}; data_dir {}, free disk {free}",
        utc(d.generated_unix),
        d.data_dir
    );
    if let Some(s) = &d.filter.study {
        let _ = write!(out, "; study {s}");
    }
    if let Some(a) = &d.filter.accession {
        let _ = write!(out, "; accession {a}");
    }
    out.push('\n');
    out
}

fn counts(out: &mut String, d: &Document) {
    let c = &d.counts;
    let waiting = (d.reports.iter())
        .filter(|r| r.state == "active" && r.matched_study.is_none())
        .count();
    let _ = writeln!(out, "studies: {}", c.studies);
    let _ = writeln!(
        out,
        "series: {}",
        states(&c.series, &["receiving", "complete"])
    );
    let _ = writeln!(
        out,
        "reports: {}; {waiting} waiting for their study",
        states(&c.reports, &["active", "superseded", "cancelled"])
    );
    let jobs = ["queued", "running", "done", "failed", "skipped"];
    let _ = writeln!(out, "jobs: {}", states(&c.jobs, &jobs));
    let sent = ["pending", "sent", "failed"];
    let _ = writeln!(out, "deliveries: {}", states(&c.deliveries, &sent));
    let _ = writeln!(out, "events: {}", c.events);
}

/// `12 (3 receiving, 9 complete)`: the known states always, others when present.
fn states(c: &StateCounts, known: &[&str]) -> String {
    let mut parts: Vec<String> = known.iter().map(|s| format!("{} {s}", c.get(s))).collect();
    for (s, n) in c
        .by_state
        .iter()
        .filter(|(s, _)| !known.contains(&s.as_str()))
    {
        parts.push(format!("{n} {s}"));
    }
    format!("{} ({})", c.total, parts.join(", "))
}

fn study_line(out: &mut String, s: &StudyEntry) {
    let _ = writeln!(
        out,
        "  study {} accession={} date={} series={} received={}",
        s.uid,
        s.accession.as_deref().unwrap_or("-"),
        s.study_date.as_deref().unwrap_or("-"),
        s.series,
        utc(s.received_unix),
    );
}

fn series_line(out: &mut String, s: &SeriesEntry) {
    let expected = s.expected.map(|n| format!("/{n}")).unwrap_or_default();
    let state = match &s.completion {
        Some(reason) => format!("complete ({reason})"),
        None => s.state.clone(),
    };
    let modality = if s.modality.is_empty() {
        "-"
    } else {
        &s.modality
    };
    let _ = writeln!(
        out,
        "  series {} study={} modality={modality} instances={}{expected} {state} received={} completed={}",
        s.uid,
        s.study,
        s.instances,
        utc(s.last_received_unix),
        opt_utc(s.completed_unix),
    );
}

fn report_line(out: &mut String, r: &ReportEntry) {
    let state = match r.superseded_by {
        Some(by) => format!("superseded-by-{by}"),
        None => r.state.clone(),
    };
    let matched = match (&r.matched_study, &r.match_rule) {
        (Some(s), Some(rule)) => format!("matched study={s} rule={rule}"),
        _ => "waiting-for-study".to_owned(),
    };
    let _ = writeln!(
        out,
        "  report {} control_id={} accession={} status={} {state} {matched} received={}",
        r.id,
        r.control_id,
        r.accession.as_deref().unwrap_or("-"),
        r.status,
        utc(r.received_unix),
    );
}

fn job_line(out: &mut String, j: &JobEntry) {
    let why = j
        .reason
        .as_ref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let grounded = j.findings.iter().filter(|f| f.method.is_some()).count();
    let _ = writeln!(
        out,
        "  job {} series={} {}{why} findings={} grounded={grounded} seg={} sr={} created={} completed={}",
        j.key,
        j.pet_series,
        j.state,
        j.findings.len(),
        j.seg.as_deref().unwrap_or("-"),
        j.sr.as_deref().unwrap_or("-"),
        utc(j.created_unix),
        opt_utc(j.finished_unix),
    );
    for note in &j.notes {
        let _ = writeln!(out, "    note: {note}");
    }
}

fn finding_line(out: &mut String, f: &FindingEntry) {
    let what = match (&f.method, f.segment, f.restatement_of) {
        (Some(m), Some(n), Some(by)) => format!("restates finding {by} (segment {n}) by {m}"),
        (Some(m), Some(n), None) => format!("segment {n} by {m}"),
        _ => "not grounded".to_owned(),
    };
    let agree = match (f.agreement_dice, f.same_lesion) {
        (Some(dice), Some(same_component)) => {
            let a = crate::store::Agreement {
                dice,
                same_component,
            };
            format!(" [{a}]")
        }
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "    finding: {what}: {}{agree} | {:?}",
        f.detail, f.sentence
    );
}

fn delivery_line(out: &mut String, d: &DeliveryEntry) {
    let state = match d.state.as_str() {
        "pending" => format!(
            "pending (attempts {}{})",
            d.attempts,
            (d.last_error.as_deref())
                .map(|e| format!(", last error: {e}"))
                .unwrap_or_default()
        ),
        "sent" => format!(
            "sent (attempts {}) delivered={}",
            d.attempts,
            opt_utc(d.delivered_unix)
        ),
        "failed" => format!("failed: {}", d.reason.as_deref().unwrap_or("-")),
        other => other.to_owned(),
    };
    let _ = writeln!(
        out,
        "  delivery {} {}={} to={} {state} queued={}",
        d.id,
        d.kind,
        d.sop_instance,
        d.destination,
        utc(d.queued_unix)
    );
}

/// `2026-11-28T12:00:00Z`; `-` for 0 (a record written before it had a time).
pub fn utc(unix: u64) -> String {
    if unix == 0 {
        return "-".to_owned();
    }
    let (days, secs) = (unix / 86_400, unix % 86_400);
    let (y, m, d) = date_of_day(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn opt_utc(unix: Option<u64>) -> String {
    unix.map(utc).unwrap_or_else(|| "-".to_owned())
}

/// The Gregorian date `days` after 1970-01-01: counts 400-year eras from 0000-03-01, so that
/// the leap day ends each year of the era.
fn date_of_day(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = z / 146_097;
    let doe = z % 146_097; // day of the era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of the era
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the year starting 1 March
    let mp = (5 * doy + 2) / 153; // month starting from March = 0
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = era * 400 + yoe + u64::from(m <= 2);
    (y, m, d)
}

/// `12.3 GiB`, `512.0 MiB`.
fn bytes(n: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    let f = n as f64;
    if f >= GIB {
        format!("{:.1} GiB", f / GIB)
    } else {
        format!("{:.1} MiB", f / MIB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dates checked with GNU date (`date -u -d @951782400` etc.).
    #[test]
    fn utc_times() {
        assert_eq!(utc(0), "-");
        assert_eq!(utc(1), "1970-01-01T00:00:01Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_795_867_200), "2026-11-28T12:00:00Z");
        assert_eq!(utc(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(bytes(3 << 29), "1.5 GiB");
        assert_eq!(bytes(512 << 20), "512.0 MiB");
    }
}
