//! How the results of one report version are told apart in a PACS: SeriesNumber and
//! SeriesDescription of its SEG and SR, and those of a rejection note. Pure; the version comes
//! from the store (`Store::report_version`: the report's 1-based place among its accession's
//! reports in arrival order, durable, so a restart or a rerun gives the same numbers).
//!
//! - Version *n* gets SEG SeriesNumber `base + 2(n − 1)` and SR `base + 2(n − 1) + 1`
//!   (defaults: 9901/9902, then 9903/9904, …).
//! - Version 1 keeps the plain descriptions ("petground findings", "petground quantitative
//!   results"); a corrected report (OBR-25 `C`) adds "(corrected report n)", any other later
//!   version "(report version n)".
//! - A job run again by `petground reprocess` (job version *v* > 1) adds `100 (v − 1)` to both
//!   numbers and "(reprocessed v)" to both descriptions, so a PACS tells the rerun from the
//!   first run too (a report has fewer than 50 versions in practice).
//! - A rejection note (IOCM KOS) takes SeriesNumber `base − 1` (9900): one number, not per
//!   version, since one note may withdraw several versions.

/// SeriesNumber and SeriesDescription of one version's SEG and SR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesNames {
    pub seg_number: i32,
    pub seg_description: String,
    pub sr_number: i32,
    pub sr_description: String,
}

pub const SEG_DESCRIPTION: &str = "petground findings";
pub const SR_DESCRIPTION: &str = "petground quantitative results";
pub const REJECTION_DESCRIPTION: &str = "petground rejection note";

/// The series of report version `version` (1-based), `corrected` when its status is `C`,
/// made by job version `run` (1 for the first run, more after `reprocess`).
pub fn series_names(base: i32, version: u32, corrected: bool, run: u32) -> SeriesNames {
    let step = |n: u32, by: i32| {
        i32::try_from(n.saturating_sub(1))
            .unwrap_or(i32::MAX)
            .saturating_mul(by)
    };
    let seg_number = base
        .saturating_add(step(version, 2))
        .saturating_add(step(run, 100));
    let report = match (version, corrected) {
        (0 | 1, false) => None,
        (_, true) => Some(format!("corrected report {version}")),
        (_, false) => Some(format!("report version {version}")),
    };
    let rerun = (run > 1).then(|| format!("reprocessed {run}"));
    let suffix = match (report, rerun) {
        (None, None) => String::new(),
        (Some(a), None) | (None, Some(a)) => format!(" ({a})"),
        (Some(a), Some(b)) => format!(" ({a}, {b})"),
    };
    SeriesNames {
        seg_number,
        seg_description: format!("{SEG_DESCRIPTION}{suffix}"),
        sr_number: seg_number.saturating_add(1),
        sr_description: format!("{SR_DESCRIPTION}{suffix}"),
    }
}

/// SeriesNumber of the rejection notes.
pub fn rejection_series_number(base: i32) -> i32 {
    base.saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reprocessed_job_has_its_own_series_too() {
        let rerun = series_names(9901, 1, false, 2);
        assert_eq!((rerun.seg_number, rerun.sr_number), (10001, 10002));
        assert_eq!(rerun.seg_description, "petground findings (reprocessed 2)");
        let both = series_names(9901, 2, true, 3);
        assert_eq!(both.seg_number, 9903 + 200);
        assert_eq!(
            both.sr_description,
            "petground quantitative results (corrected report 2, reprocessed 3)"
        );
    }

    #[test]
    fn each_version_has_its_own_series() {
        let first = series_names(9901, 1, false, 1);
        assert_eq!(
            (first.seg_number, first.sr_number),
            (9901, 9902),
            "{first:?}"
        );
        assert_eq!(first.seg_description, "petground findings");
        assert_eq!(first.sr_description, "petground quantitative results");
        let second = series_names(9901, 2, true, 1);
        assert_eq!((second.seg_number, second.sr_number), (9903, 9904));
        assert_eq!(
            second.seg_description,
            "petground findings (corrected report 2)"
        );
        assert_eq!(
            second.sr_description,
            "petground quantitative results (corrected report 2)"
        );
        let third = series_names(9901, 3, false, 1);
        assert_eq!(third.seg_number, 9905);
        assert_eq!(
            third.seg_description,
            "petground findings (report version 3)"
        );
        // A first report marked corrected (its original never reached the node) says so.
        assert!(
            series_names(9901, 1, true, 1)
                .seg_description
                .contains("corrected")
        );
    }

    #[test]
    fn numbers_saturate_and_descriptions_fit_lo() {
        let last = series_names(i32::MAX - 1, u32::MAX, true, 1);
        assert_eq!((last.seg_number, last.sr_number), (i32::MAX, i32::MAX));
        assert!(last.sr_description.chars().count() <= 64, "{last:?}");
        assert_eq!(rejection_series_number(9901), 9900);
    }
}
