//! The state report behind `petground status`: studies, series and their completeness, and the
//! events the pipeline consumes. Plain text, one line per item; no patient names or IDs.

use std::fmt::Write;

use super::{Store, StoreError};

impl Store {
    /// A human-readable summary of everything the node knows.
    pub fn status_text(&self) -> Result<String, StoreError> {
        let mut out = String::new();
        let studies = self.all_studies()?;
        let series = self.all_series()?;
        let _ = writeln!(out, "studies: {}", studies.len());
        for (uid, study) in &studies {
            let n = series.iter().filter(|(_, s)| &s.study == uid).count();
            let _ = writeln!(
                out,
                "  study {uid} accession={} date={} series={n}",
                study.accession.as_deref().unwrap_or("-"),
                study.study_date.as_deref().unwrap_or("-"),
            );
        }
        let _ = writeln!(out, "series: {}", series.len());
        for (uid, s) in &series {
            let state = match &s.complete {
                Some(c) => format!("complete ({})", c.reason),
                None => "receiving".to_owned(),
            };
            let expected = s.expected.map(|n| format!("/{n}")).unwrap_or_default();
            let _ = writeln!(
                out,
                "  series {uid} study={} modality={} instances={}{expected} {state}",
                s.study,
                if s.modality.is_empty() {
                    "-"
                } else {
                    &s.modality
                },
                s.instances,
            );
        }
        let reports = self.all_reports()?;
        let _ = writeln!(out, "reports: {}", reports.len());
        for (id, r) in &reports {
            let state = match &r.state {
                super::ReportState::Active => "active".to_owned(),
                super::ReportState::Superseded { by } => format!("superseded-by-{by}"),
                super::ReportState::Cancelled => "cancelled".to_owned(),
            };
            let matched = match &r.matched {
                Some(m) => format!("matched study={} rule={}", m.study, m.rule),
                None => "waiting-for-study".to_owned(),
            };
            let _ = writeln!(
                out,
                "  report {id} control_id={} accession={} status={} {state} {matched}",
                r.control_id,
                r.accession.as_deref().unwrap_or("-"),
                r.status.code(),
            );
        }
        let jobs = self.all_jobs()?;
        let _ = writeln!(out, "jobs: {}", jobs.len());
        for (key, j) in &jobs {
            let (state, why) = match &j.state {
                super::JobState::Queued => ("queued", String::new()),
                super::JobState::Running => ("running", String::new()),
                super::JobState::Done => ("done", String::new()),
                super::JobState::Failed { reason } => ("failed", format!(" ({reason})")),
                super::JobState::Skipped { reason } => ("skipped", format!(" ({reason})")),
            };
            let grounded = j.findings.iter().filter(|f| f.method.is_some()).count();
            let _ = writeln!(
                out,
                "  job {key} series={} {state}{why} findings={} grounded={grounded} seg={} sr={}",
                j.pet_series,
                j.findings.len(),
                j.seg.as_deref().unwrap_or("-"),
                j.sr.as_deref().unwrap_or("-"),
            );
            for f in &j.findings {
                let what = match (&f.method, f.segment, f.restatement_of) {
                    (Some(m), Some(n), Some(by)) => {
                        format!("restates finding {by} (segment {n}) by {m}")
                    }
                    (Some(m), Some(n), None) => format!("segment {n} by {m}"),
                    _ => "not grounded".to_owned(),
                };
                let agree = f.agreement.map(|a| format!(" [{a}]")).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "    finding: {what}: {}{agree} | {:?}",
                    f.detail, f.sentence
                );
            }
        }
        let outbox = self.all_outbox()?;
        let _ = writeln!(out, "deliveries: {}", outbox.len());
        for (id, d) in &outbox {
            let state = match &d.state {
                super::DeliveryState::Pending { last_error, .. } => format!(
                    "pending (attempts {}{})",
                    d.attempts,
                    last_error
                        .as_deref()
                        .map(|e| format!(", last error: {e}"))
                        .unwrap_or_default()
                ),
                super::DeliveryState::Sent { .. } => format!("sent (attempts {})", d.attempts),
                super::DeliveryState::Failed { reason } => format!("failed: {reason}"),
            };
            let _ = writeln!(
                out,
                "  delivery {id} {}={} to={} {state}",
                d.kind.as_str(),
                d.sop_instance,
                d.destination
            );
        }
        let events = self.events_after(0)?;
        let _ = writeln!(out, "events: {}", events.len());
        for (id, ev) in events.iter().rev().take(20).rev() {
            let _ = writeln!(
                out,
                "  #{id} {}",
                serde_json::to_string(&ev.kind).unwrap_or_default()
            );
        }
        Ok(out)
    }
}
