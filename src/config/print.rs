//! The effective configuration as TOML (`petground check-config`): every key, defaults
//! included, in the order of the file's sections, with the paths as resolved. The text is the
//! typed [`Config`] turned back into the raw shapes the file is read into, so it parses back
//! to the same configuration.

use super::raw::{
    RawAccept, RawConfig, RawDelivery, RawDestination, RawDicom, RawGrounding, RawHl7, RawModel,
    RawNode, RawResults, RawRouting, RawSeries, RawWeakLabel,
};
use super::{CallingRule, Config, ConfigError};

const MIB: u64 = 1024 * 1024;

impl Config {
    /// The configuration as TOML text that [`Config::from_toml`] reads back to an equal
    /// `Config`. Fails only for a path that is not UTF-8 (TOML strings are).
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string(&raw(self)).map_err(|e| ConfigError::Print(e.to_string()))
    }
}

fn raw(c: &Config) -> RawConfig {
    RawConfig {
        node: RawNode {
            ae_title: c.node.ae_title.as_str().to_owned(),
            dicom_listen: c.node.dicom_listen.to_string(),
            hl7_listen: c.node.hl7_listen.to_string(),
            data_dir: c.node.data_dir.clone(),
        },
        accept: RawAccept {
            calling_ae_titles: c.scp.calling_ae_titles.iter().map(calling).collect(),
        },
        series: RawSeries {
            stable_seconds: c.series.stable.as_secs(),
        },
        destinations: c
            .delivery
            .destinations
            .iter()
            .map(|d| RawDestination {
                name: d.name.clone(),
                ae_title: d.ae_title.as_str().to_owned(),
                address: d.address.to_string(),
            })
            .collect(),
        routing: RawRouting {
            send_seg_to: c.routing.send_seg_to.clone(),
        },
        dicom: dicom(c),
        hl7: hl7(c),
        delivery: RawDelivery {
            max_attempts: c.delivery.max_attempts,
            retry_initial_seconds: c.delivery.retry_initial.as_secs(),
            retry_max_seconds: c.delivery.retry_max.as_secs(),
        },
        weak_label: RawWeakLabel {
            slice_tolerance: c.weak_label.slice_tolerance,
        },
        model: RawModel {
            onnxruntime: Some(c.model.onnxruntime.clone()),
            device: c.model.device,
            threads: c.model.threads,
            dir: Some(c.model.dir.clone()),
        },
        grounding: RawGrounding {
            mode: c.grounding.mode,
            ct_wait_seconds: c.grounding.ct_wait.as_secs(),
        },
        results: RawResults { sr: c.results.sr },
        web: super::web::raw_web(&c.web),
        retention: super::retention::raw_retention(&c.retention),
    }
}

fn hl7(c: &Config) -> RawHl7 {
    RawHl7 {
        max_message_bytes: c.hl7.max_message_bytes,
        read_timeout_seconds: c.hl7.read_timeout.as_secs(),
        idle_timeout_seconds: c.hl7.idle_timeout.as_secs(),
        max_connections: c.hl7.max_connections,
        match_patient_and_date: c.hl7.match_patient_and_date,
    }
}

fn dicom(c: &Config) -> RawDicom {
    let s = &c.scp;
    RawDicom {
        max_associations: s.max_associations,
        max_pdu_bytes: s.max_pdu_bytes,
        max_instance_mb: s.max_instance_bytes / MIB,
        association_timeout_seconds: s.association_timeout.as_secs(),
        dimse_timeout_seconds: s.dimse_timeout.as_secs(),
        min_free_disk_mb: s.min_free_disk_bytes / MIB,
        shutdown_grace_seconds: s.shutdown_grace.as_secs(),
    }
}

fn calling(rule: &CallingRule) -> String {
    match rule {
        CallingRule::Any => "*".to_owned(),
        CallingRule::Ae(ae) => ae.clone(),
        CallingRule::AeAtHost(ae, ip) => format!("{ae}@{ip}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let cfg = Config::from_toml(text).expect("valid");
        let printed = cfg.to_toml().expect("printable");
        let again = Config::from_toml(&printed).unwrap_or_else(|e| panic!("{e}\n{printed}"));
        assert_eq!(again, cfg, "{printed}");
        printed
    }

    #[test]
    fn the_printed_config_reads_back_to_the_same_config() {
        let shipped = round_trip(include_str!("../../conf/petground.toml"));
        let full = "[node]\nae_title = \"PG\"\ndicom_listen = \"[::1]:0\"\n\
                    hl7_listen = \"127.0.0.1:0\"\ndata_dir = \"/srv/pg\"\n\
                    [accept]\ncalling_ae_titles = [\"CT@10.0.0.1\", \"PET\"]\n\
                    [[destinations]]\nname = \"a\"\nae_title = \"A\"\naddress = \"pacs.local:104\"\n\
                    [[destinations]]\nname = \"b\"\nae_title = \"B\"\naddress = \"[::1]:11112\"\n\
                    [routing]\nsend_seg_to = [\"a\", \"b\"]\n\
                    [model]\ndevice = \"cuda\"\nthreads = 3\ndir = \"/opt/m\"\n\
                    [grounding]\nmode = \"both\"\n[results]\nsr = false\n";
        let printed = round_trip(full);
        assert!(printed.contains("address = \"[::1]:11112\""), "{printed}");
        // Every key, in the file's section order.
        let sections: Vec<&str> = shipped.lines().filter(|l| l.starts_with('[')).collect();
        let order = [
            "[node]",
            "[accept]",
            "[series]",
            "[[destinations]]",
            "[routing]",
            "[dicom]",
            "[hl7]",
            "[delivery]",
            "[weak_label]",
            "[model]",
            "[grounding]",
            "[results]",
            "[web]",
            "[retention]",
        ];
        assert_eq!(sections, order, "{shipped}");
        for key in [
            "shutdown_grace_seconds",
            "match_patient_and_date",
            "onnxruntime = ",
        ] {
            assert!(shipped.contains(key), "{key} missing:\n{shipped}");
        }
    }

    #[test]
    fn defaults_are_printed_for_a_minimal_file() {
        let printed = round_trip(
            "[node]\nae_title = \"PG\"\ndicom_listen = \"127.0.0.1:1\"\n\
             hl7_listen = \"127.0.0.1:2\"\ndata_dir = \"var\"\n",
        );
        assert!(printed.contains("stable_seconds = 10"), "{printed}");
        assert!(printed.contains("calling_ae_titles = [\"*\"]"), "{printed}");
        assert!(printed.contains("mode = \"weak-label\""), "{printed}");
        assert!(!printed.contains("destinations"), "{printed}");
    }
}
