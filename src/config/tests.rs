//! Unit tests of the config as a whole: the shipped file, defaults, and errors that name
//! their key and line. Section-specific tests sit beside their builders.

use std::time::Duration;

use super::*;

const MINIMAL: &str = r#"
    [node]
    ae_title = "PETGROUND"
    dicom_listen = "127.0.0.1:11112"
    hl7_listen = "127.0.0.1:2575"
    data_dir = "var"
"#;

fn err_key(text: &str) -> String {
    match Config::from_toml(text) {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("expected an invalid-key error, got {other:?}"),
    }
}

#[test]
fn shipped_default_config_is_valid() {
    let text = include_str!("../../conf/petground.toml");
    let cfg = Config::from_toml(text).expect("conf/petground.toml must validate");
    assert_eq!(cfg.node.ae_title.as_str(), "PETGROUND");
    assert_eq!(cfg.series.stable, Duration::from_secs(10));
    assert_eq!(cfg.routing.send_seg_to, vec!["pacs".to_owned()]);
    assert!(cfg.results.sr, "the shipped config sends the SR");
}

#[test]
fn results_sr_defaults_on_and_can_be_turned_off() {
    assert!(Config::from_toml(MINIMAL).expect("valid").results.sr);
    let off = format!("{MINIMAL}\n[results]\nsr = false\n");
    assert!(!Config::from_toml(&off).expect("valid").results.sr);
    let typo = format!("{MINIMAL}\n[results]\nsrr = true\n");
    assert!(matches!(
        Config::from_toml(&typo),
        Err(ConfigError::Parse { .. })
    ));
}

#[test]
fn minimal_config_gets_defaults() {
    let cfg = Config::from_toml(MINIMAL).expect("valid");
    assert_eq!(cfg.scp.calling_ae_titles, vec![CallingRule::Any]);
    assert_eq!(cfg.scp.max_pdu_bytes, 1 << 20);
    assert!(cfg.delivery.destinations.is_empty());
}

/// The listener once defaulted to 32 connections and the config to 16; conf/petground.toml
/// and README document 16, and there is now one default.
#[test]
fn hl7_defaults_are_the_documented_ones() {
    let cfg = Config::from_toml(MINIMAL).expect("valid");
    assert_eq!(cfg.hl7, Hl7Config::default());
    assert_eq!(cfg.hl7.max_connections, 16);
    let shipped = Config::from_toml(include_str!("../../conf/petground.toml")).expect("valid");
    assert_eq!(shipped.hl7, Hl7Config::default());
    assert_eq!(cfg.results, ResultsConfig::default());
    assert_eq!(cfg.results.seg_series_number, SEG_SERIES_NUMBER);
    assert_eq!(cfg.model, ModelConfig::default());
}

#[test]
fn bad_values_name_their_key() {
    assert_eq!(err_key(&MINIMAL.replace("PETGROUND", "")), "node.ae_title");
    assert_eq!(
        err_key(&MINIMAL.replace("PETGROUND", "A_TITLE_LONGER_THAN_16")),
        "node.ae_title"
    );
    assert_eq!(
        err_key(&MINIMAL.replace("127.0.0.1:2575", "nowhere")),
        "node.hl7_listen"
    );
    let routed = format!("{MINIMAL}\n[routing]\nsend_seg_to = [\"pacs\"]\n");
    assert_eq!(err_key(&routed), "routing.send_seg_to");
    let accept = format!("{MINIMAL}\n[accept]\ncalling_ae_titles = [\"CT@not-an-ip\"]\n");
    assert_eq!(err_key(&accept), "accept.calling_ae_titles");
    let stable = format!("{MINIMAL}\n[series]\nstable_seconds = 0\n");
    assert_eq!(err_key(&stable), "series.stable_seconds");
}

/// (key, line) of a config error.
fn where_(e: ConfigError) -> (Option<String>, Option<usize>) {
    match e {
        ConfigError::Parse { key, at, .. } => (key, at.line),
        ConfigError::Invalid { key, at, .. } => (Some(key), at.line),
        other => panic!("expected a parse or invalid-key error, got {other:?}"),
    }
}

fn line_of(text: &str, needle: &str) -> Option<usize> {
    Some(
        text[..text.find(needle).expect("needle")]
            .matches('\n')
            .count()
            + 1,
    )
}

/// Issue 19: errors named the bare key (`ae_titel`) and the line above it.
#[test]
fn errors_name_the_full_key_and_its_own_line() {
    let cases = [
        (
            MINIMAL.replace("ae_title", "ae_titel"),
            "node.ae_titel",
            "ae_titel",
        ),
        (
            format!("{MINIMAL}\n[series]\nstable_seconds = \"10\"\n"),
            "series.stable_seconds",
            "stable_seconds",
        ),
        (
            format!("{MINIMAL}\n[grounding]\nmode = \"fast\"\n"),
            "grounding.mode",
            "mode",
        ),
        (
            format!("{MINIMAL}\n[series]\nstable_seconds = 0\n"),
            "series.stable_seconds",
            "stable_seconds",
        ),
        (
            format!(
                "{MINIMAL}\n[[destinations]]\nname = \"a\"\nae_title = \"A\"\naddress = \"a:1\"\n\
                 [[destinations]]\nname = \"b\"\nae_title = \"B\"\naddress = \"b\"\n"
            ),
            "destinations[1].address",
            "address = \"b\"",
        ),
    ];
    for (text, key, at) in cases {
        let e = Config::from_toml(&text).expect_err("invalid");
        let shown = e.to_string();
        assert_eq!(
            where_(e),
            (Some(key.to_owned()), line_of(&text, at)),
            "{shown}"
        );
        assert!(shown.contains(&format!("`{key}`")), "{shown}");
    }
    let missing = MINIMAL.replace("data_dir = \"var\"", "");
    let (key, _) = where_(Config::from_toml(&missing).expect_err("missing"));
    assert_eq!(key.as_deref(), Some("node.data_dir"));
}

#[test]
fn paths_in_a_file_resolve_against_its_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let etc = dir.path().join("etc");
    std::fs::create_dir(&etc).expect("mkdir");
    let file = etc.join("petground.toml");
    let text =
        format!("{MINIMAL}\n[model]\ndir = \"../share/models\"\nonnxruntime = \"/opt/ort.so\"\n");
    std::fs::write(&file, &text).expect("write");
    let cfg = Config::load(&file).expect("valid");
    let root = dir.path().canonicalize().expect("canonical");
    assert_eq!(cfg.node.data_dir, root.join("etc/var"));
    assert_eq!(cfg.model.dir, root.join("share/models"));
    assert_eq!(cfg.model.onnxruntime, Path::new("/opt/ort.so"));
    // Errors in a file start with FILE:LINE.
    std::fs::write(&file, MINIMAL.replace("ae_title", "ae_titel")).expect("write");
    let shown = Config::load(&file).expect_err("invalid").to_string();
    let want = format!(
        "{}:3: config key `node.ae_titel`: unknown field",
        file.display()
    );
    assert!(shown.starts_with(&want), "{shown}");
}

#[test]
fn an_unusable_data_dir_is_reported_once_with_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"").expect("write");
    let text = MINIMAL.replace("\"var\"", &format!("\"{}/var\"", blocker.display()));
    let cfg = Config::from_toml(&text).expect("valid");
    let e = cfg.check_data_dir(true).expect_err("below a file");
    let shown = e.to_string();
    assert!(shown.contains("`node.data_dir`"), "{shown}");
    assert_eq!(shown.matches("os error").count(), 1, "{shown}");
    let ok = MINIMAL.replace("\"var\"", &format!("\"{}/var\"", dir.path().display()));
    let cfg = Config::from_toml(&ok).expect("valid");
    cfg.check_data_dir(false)
        .expect("missing is no error without create");
    assert!(!dir.path().join("var").exists());
    cfg.check_data_dir(true).expect("writable");
    assert!(dir.path().join("var").is_dir());
}

#[test]
fn unknown_key_is_refused_with_its_name() {
    let text = format!("{MINIMAL}\n[series]\nstable_secs = 3\n");
    match Config::from_toml(&text) {
        Err(ConfigError::Parse { message, .. }) => {
            assert!(message.contains("stable_secs"), "{message}")
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn calling_rules_match_ae_and_host() {
    let ip = "10.1.2.3".parse().expect("ip");
    let other = "10.1.2.4".parse().expect("ip");
    let rule = CallingRule::parse("SCANNER@10.1.2.3").expect("rule");
    assert!(rule.allows("SCANNER", ip));
    assert!(rule.allows("SCANNER  ", ip));
    assert!(!rule.allows("SCANNER", other));
    assert!(!rule.allows("scanner", ip), "AE titles are case-sensitive");
    assert!(
        CallingRule::parse("PACS")
            .expect("rule")
            .allows("PACS", other)
    );
}
