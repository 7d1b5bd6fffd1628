//! The HTML of the status page, from what the store returns: a summary line, the newest jobs
//! first (per job its state, SEG/SR UIDs, deliveries, a table of its findings — segment, method
//! and measurements, or why not grounded — and its MIP picture), then studies and reports.
//! Every value from outside is escaped ([`esc`]); like `petground status` the page shows UIDs,
//! accession numbers, dates and report sentences, never patient names or IDs. No scripts; the
//! page reloads itself every 10 s.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::status::Snapshot;
use crate::store::{
    DeliveryState, FindingOutcome, JobRecord, JobState, Layout, ReportState, Store, StoreError,
};

/// How many of the newest studies, jobs and reports the page lists (all are counted).
pub const SHOWN: usize = 50;

/// What the page shows: the store's records and which jobs have a picture.
pub struct View {
    pub snapshot: Snapshot,
    pub pictures: BTreeSet<String>,
}

pub fn read(store: &Store) -> Result<View, StoreError> {
    let snapshot = Snapshot::read_without_events(store)?;
    let pictures = (snapshot.jobs.iter())
        .filter(|(_, j)| j.state == JobState::Done)
        .filter(|(k, _)| store.layout().absolute(Layout::picture_rel(k)).exists())
        .map(|(k, _)| k.clone())
        .collect();
    Ok(View { snapshot, pictures })
}

/// `s` with the five HTML special characters escaped (safe in text and quoted attributes).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.4 sans-serif;margin:1em 2em;color:#222}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;\
text-align:left;vertical-align:top}th{background:#eee}.job{border-top:2px solid #888;\
margin-top:1em}.state-failed{color:#b00}.state-done{color:#070}.not-grounded{color:#777}\
code{font-size:12px}img{border:1px solid #ccc;max-width:100%}";

/// The whole page; `now` is the Unix time it is made at.
pub fn render(v: &View, now: u64) -> String {
    let s = &v.snapshot;
    let mut out = String::with_capacity(16 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta http-equiv=\"refresh\" content=\"10\"><title>petground</title>");
    let _ = write!(
        out,
        "<style>{STYLE}</style></head><body>\n<h1>petground</h1>\n"
    );
    summary(&mut out, s, now);
    let mut jobs: Vec<&(String, JobRecord)> = s.jobs.iter().collect();
    jobs.sort_by_key(|(k, j)| (std::cmp::Reverse(j.created_unix), k.clone()));
    let _ = writeln!(out, "<h2>Jobs</h2>{}", shown(jobs.len()));
    for (key, job) in jobs.into_iter().take(SHOWN) {
        self::job(&mut out, s, key, job, v.pictures.contains(key));
    }
    studies(&mut out, s);
    reports(&mut out, s);
    out.push_str("</body></html>\n");
    out
}

fn shown(n: usize) -> String {
    if n > SHOWN {
        format!("<p>newest {SHOWN} of {n}</p>")
    } else {
        String::new()
    }
}

fn summary(out: &mut String, s: &Snapshot, now: u64) {
    let count = |f: &dyn Fn(&JobState) -> bool| s.jobs.iter().filter(|(_, j)| f(&j.state)).count();
    let pending = (s.outbox.iter())
        .filter(|(_, d)| matches!(d.state, DeliveryState::Pending { .. }))
        .count();
    let _ = writeln!(
        out,
        "<p id=\"summary\">{} studies, {} reports, {} jobs ({} queued or running, {} done, {} \
         failed, {} skipped), {} deliveries pending. As of {} UTC.</p>",
        s.studies.len(),
        s.reports.len(),
        s.jobs.len(),
        count(&|j| matches!(j, JobState::Queued | JobState::Running)),
        count(&|j| matches!(j, JobState::Done)),
        count(&|j| matches!(j, JobState::Failed { .. })),
        count(&|j| matches!(j, JobState::Skipped { .. })),
        pending,
        utc(now),
    );
}

fn studies(out: &mut String, s: &Snapshot) {
    let mut studies: Vec<_> = s.studies.iter().collect();
    studies.sort_by_key(|(uid, st)| (std::cmp::Reverse(st.first_unix), uid.clone()));
    let _ = writeln!(out, "<h2>Studies</h2>{}", shown(studies.len()));
    out.push_str("<table id=\"studies\"><tr><th>Study Instance UID</th><th>Accession</th>");
    out.push_str("<th>Study date</th><th>Series (complete)</th><th>First received</th></tr>\n");
    for (uid, st) in studies.into_iter().take(SHOWN) {
        let series: Vec<_> = (s.series.iter())
            .filter(|(_, r)| r.study.as_str() == uid.as_str())
            .collect();
        let complete = series.iter().filter(|(_, r)| r.complete.is_some()).count();
        let _ = writeln!(
            out,
            "<tr class=\"study\" data-study=\"{u}\"><td><code>{u}</code></td><td>{}</td><td>{}</td>\
             <td>{} ({complete})</td><td>{}</td></tr>",
            esc(st.accession.as_deref().unwrap_or("-")),
            esc(st.study_date.as_deref().unwrap_or("-")),
            series.len(),
            utc(st.first_unix),
            u = esc(uid),
        );
    }
    out.push_str("</table>\n");
}

fn job(out: &mut String, s: &Snapshot, key: &str, j: &JobRecord, picture: bool) {
    let (state, why) = match &j.state {
        JobState::Queued => ("queued", ""),
        JobState::Running => ("running", ""),
        JobState::Done => ("done", ""),
        JobState::Failed { reason } => ("failed", reason.as_str()),
        JobState::Skipped { reason } => ("skipped", reason.as_str()),
    };
    let k = esc(key);
    let _ = writeln!(
        out,
        "<section class=\"job\" data-job=\"{k}\" data-state=\"{state}\"><h3>Job <code>{k}</code> \
         <span class=\"state-{state}\">{state}</span> {}</h3>",
        esc(why)
    );
    let _ = writeln!(
        out,
        "<p>study <code>{}</code>, PET series <code>{}</code>, report {}; created {}, finished {}; \
         SEG <code>{}</code>, SR <code>{}</code>; deliveries: {}</p>",
        esc(j.study.as_str()),
        esc(j.pet_series.as_str()),
        j.report,
        utc(j.created_unix),
        j.finished_unix.map(utc).unwrap_or_else(|| "-".to_owned()),
        esc(j.seg.as_deref().unwrap_or("-")),
        esc(j.sr.as_deref().unwrap_or("-")),
        esc(&deliveries(s, key)),
    );
    findings(out, &j.findings);
    if picture {
        let _ = writeln!(
            out,
            "<p><img class=\"mip\" src=\"/pictures/{k}.png\" alt=\"MIP of job {k} with the \
             grounded segments outlined\"></p>"
        );
    }
    out.push_str("</section>\n");
}

/// The job's deliveries, as "seg to pacs: sent, sr to pacs: pending (attempts 2)".
fn deliveries(s: &Snapshot, key: &str) -> String {
    let items: Vec<String> = (s.outbox.iter())
        .filter(|(_, d)| d.job == key)
        .map(|(_, d)| {
            let state = match &d.state {
                DeliveryState::Pending { last_error, .. } => match last_error {
                    Some(e) => format!("pending (attempts {}, last error: {e})", d.attempts),
                    None => format!("pending (attempts {})", d.attempts),
                },
                DeliveryState::Sent { .. } => "sent".to_owned(),
                DeliveryState::Failed { reason } => format!("failed: {reason}"),
            };
            format!("{} to {}: {state}", d.kind.as_str(), d.destination)
        })
        .collect();
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

fn findings(out: &mut String, findings: &[FindingOutcome]) {
    if findings.is_empty() {
        return;
    }
    out.push_str("<table class=\"findings\"><tr><th>#</th><th>Sentence</th><th>Outcome</th>");
    out.push_str("<th>Method</th><th>Reported SUVmax / image</th><th>Measured SUVmax</th>");
    out.push_str("<th>MTV (mL)</th><th>Detail</th></tr>\n");
    for (i, f) in findings.iter().enumerate() {
        let outcome = match (f.segment, f.restatement_of) {
            (Some(n), Some(by)) => format!("segment {n} (restates finding {by})"),
            (Some(n), None) if f.method.is_some() => format!("segment {n}"),
            _ => "not grounded".to_owned(),
        };
        let class = if f.method.is_some() {
            "finding grounded"
        } else {
            "finding not-grounded"
        };
        let agree = f.agreement.map(|a| format!(" [{a}]")).unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} / {}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            i + 1,
            esc(&f.sentence),
            esc(&outcome),
            esc(f.method.as_deref().unwrap_or("-")),
            num(f.suv_max, 1),
            f.slice.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
            num(f.label_suv_max, 2),
            num(f.mtv_ml, 2),
            esc(&format!("{}{agree}", f.detail)),
        );
    }
    out.push_str("</table>\n");
}

fn reports(out: &mut String, s: &Snapshot) {
    let mut reports: Vec<_> = s.reports.iter().collect();
    reports.sort_by_key(|(id, _)| std::cmp::Reverse(*id));
    let _ = writeln!(out, "<h2>Reports</h2>{}", shown(reports.len()));
    out.push_str("<table id=\"reports\"><tr><th>Report</th><th>Control ID</th><th>Accession</th>");
    out.push_str("<th>Status</th><th>State</th><th>Study</th><th>Received</th></tr>\n");
    for (id, r) in reports.into_iter().take(SHOWN) {
        let state = match &r.state {
            ReportState::Active => "active".to_owned(),
            ReportState::Superseded { by } => format!("superseded by {by}"),
            ReportState::Cancelled => "cancelled".to_owned(),
        };
        let study = match &r.matched {
            Some(m) => format!("{} ({})", m.study, m.rule),
            None => "waiting for its study".to_owned(),
        };
        let _ = writeln!(
            out,
            "<tr class=\"report\"><td>{id}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            esc(&r.control_id),
            esc(r.accession.as_deref().unwrap_or("-")),
            r.status.code(),
            esc(&state),
            esc(&study),
            utc(r.received_unix),
        );
    }
    out.push_str("</table>\n");
}

fn num(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "-".to_owned())
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC; proleptic Gregorian calendar).
pub fn utc(unix: u64) -> String {
    let (days, secs) = (unix / 86_400, unix % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), by 400-year eras of 146 097 days.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let doe = z % 146_097; // day of the era
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the year from March 1
    let mp = (5 * doy + 2) / 153; // month from March = 0
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = era * 400 + yoe + u64::from(m <= 2);
    (y, m, d)
}
