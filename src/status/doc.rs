//! The status document: what `petground status --json` prints and what the control socket
//! answers a status request with (README, "Status document"). Every list is newest first.
//! Fields are only ever added, never renamed or removed; readers ignore fields they do not know
//! and `#[serde(default)]` lets this reader take documents with fewer fields.

use serde::{Deserialize, Serialize};

/// Version of the document's layout; it changes only if a field had to change meaning.
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Document {
    pub schema: u32,
    /// When the document was made (seconds since the Unix epoch, UTC).
    pub generated_unix: u64,
    /// `node` (asked the running node) or `store` (read the index, no node running).
    pub source: String,
    pub data_dir: String,
    /// Free space for `data_dir` (what the DICOM receiver checks), when it could be read.
    pub disk_free_bytes: Option<u64>,
    pub filter: Filter,
    /// Counts of the items below (all of them, not only the newest shown by the text).
    pub counts: Counts,
    pub studies: Vec<StudyEntry>,
    pub series: Vec<SeriesEntry>,
    pub reports: Vec<ReportEntry>,
    pub jobs: Vec<JobEntry>,
    pub deliveries: Vec<DeliveryEntry>,
    /// The newest events (at most 20); `counts.events` counts all of them.
    pub events: Vec<EventEntry>,
}

/// Which study the document is about; both `None`: everything.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Filter {
    pub study: Option<String>,
    pub accession: Option<String>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.study.is_none() && self.accession.is_none()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Counts {
    pub studies: u64,
    pub series: StateCounts,
    pub reports: StateCounts,
    pub jobs: StateCounts,
    pub deliveries: StateCounts,
    pub events: u64,
}

/// A total and the number of items per state (states with no item are left out).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct StateCounts {
    pub total: u64,
    pub by_state: std::collections::BTreeMap<String, u64>,
}

impl StateCounts {
    pub fn of<'a>(states: impl Iterator<Item = &'a str>) -> Self {
        let mut c = Self::default();
        for s in states {
            c.total += 1;
            *c.by_state.entry(s.to_owned()).or_default() += 1;
        }
        c
    }

    pub fn get(&self, state: &str) -> u64 {
        self.by_state.get(state).copied().unwrap_or(0)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct StudyEntry {
    pub uid: String,
    pub accession: Option<String>,
    /// StudyDate (0008,0020) as sent, `YYYYMMDD`.
    pub study_date: Option<String>,
    /// When its first instance was received.
    pub received_unix: u64,
    pub series: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SeriesEntry {
    pub uid: String,
    pub study: String,
    pub modality: String,
    pub instances: u32,
    /// NumberOfSlices of a PET series, when it says.
    pub expected: Option<u32>,
    /// `receiving` or `complete`.
    pub state: String,
    /// When its newest instance was received.
    pub last_received_unix: u64,
    pub completed_unix: Option<u64>,
    /// `all-slices` or `stable`, once complete.
    pub completion: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ReportEntry {
    pub id: u64,
    pub control_id: String,
    pub accession: Option<String>,
    /// OBR-25: `P`, `F`, `C` or `X`.
    pub status: String,
    /// `active`, `superseded` or `cancelled`.
    pub state: String,
    pub superseded_by: Option<u64>,
    pub received_unix: u64,
    /// The study it matched, by which rule (`study-uid`, `accession`, …) and when.
    pub matched_study: Option<String>,
    pub match_rule: Option<String>,
    pub matched_unix: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct JobEntry {
    /// `study/report` (version 1) or `study/report/vN`.
    pub key: String,
    pub study: String,
    pub report: u64,
    pub version: u32,
    pub pet_series: String,
    /// `queued`, `running`, `done`, `failed` or `skipped`.
    pub state: String,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
    pub attempts: u32,
    pub created_unix: u64,
    pub finished_unix: Option<u64>,
    /// SOP Instance UIDs of the SEG and SR it made.
    pub seg: Option<String>,
    pub sr: Option<String>,
    pub findings: Vec<FindingEntry>,
    /// How it ran, when a reader should know: e.g. on the PET alone because no complete CT
    /// series arrived within `[grounding] ct_wait_seconds`, or the CT was unusable.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FindingEntry {
    pub sentence: String,
    pub suv_max: Option<f64>,
    pub slice: Option<u32>,
    /// The method that grounded it (SegmentAlgorithmName); `None`: not grounded.
    pub method: Option<String>,
    pub segment: Option<u16>,
    /// How it was matched, or why it was not grounded.
    pub detail: String,
    pub label_suv_max: Option<f64>,
    pub mtv_ml: Option<f64>,
    /// Weak label vs model, when both answered.
    pub agreement_dice: Option<f64>,
    pub same_lesion: Option<bool>,
    /// The finding (1-based) whose lesion this one restates.
    pub restatement_of: Option<usize>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DeliveryEntry {
    pub id: u64,
    /// `seg`, `sr`, or a kind added later.
    pub kind: String,
    pub sop_instance: String,
    pub destination: String,
    pub job: String,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub queued_unix: u64,
    pub delivered_unix: Option<u64>,
    pub next_try_unix: Option<u64>,
    pub last_error: Option<String>,
    /// Why it failed for good.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct EventEntry {
    pub id: u64,
    pub unix: u64,
    /// The event as the store records it: `{"type": "series-complete" | "report-stored" |
    /// "report-matched", …}`.
    pub event: serde_json::Value,
}
