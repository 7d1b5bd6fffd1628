//! Tokenizer and frozen text encoder against Python references: token ids must equal those of
//! Python `tokenizers` 0.23.3 and the encoder output must match Python onnxruntime 1.32.0 (CPU)
//! within 1e-4. Both references live in models/reference/text_reference.json, made by
//! models/reference/make_text_reference.py (run it to regenerate; see its docstring).

mod ground_support;

use ground_support::{repo, runtime};
use petground::ground::manifest::Manifest;
use petground::ground::text::{EMBED_DIM, TEXT_LEN, TextEncoder, load_tokenizer, tokenize};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    text: String,
    ids: Vec<i64>,
    attention_mask: Vec<i64>,
    type_ids: Vec<i64>,
}

#[derive(Deserialize)]
struct Reference {
    #[serde(rename = "L")]
    l: usize,
    cases: Vec<Case>,
    encoded_case: usize,
    last_hidden_state: Vec<f32>,
}

fn reference() -> Reference {
    let p = repo().join("models/reference/text_reference.json");
    let s = std::fs::read_to_string(&p).expect("read models/reference/text_reference.json");
    serde_json::from_str(&s).expect("parse text reference")
}

#[test]
fn token_ids_equal_python_tokenizers() {
    let r = reference();
    assert_eq!(r.l, TEXT_LEN);
    let tok = load_tokenizer(&repo().join("models/tokenizer.json")).expect("tokenizer loads");
    for c in &r.cases {
        let t = tokenize(&tok, &c.text).expect("tokenize");
        assert_eq!(t.ids, c.ids, "ids of {:?}", c.text);
        assert_eq!(t.attention_mask, c.attention_mask, "mask of {:?}", c.text);
        assert_eq!(t.type_ids, c.type_ids, "type ids of {:?}", c.text);
    }
    // The long case is truncated to L with [SEP] last; the short ones are padded with 0.
    assert!(
        r.cases
            .iter()
            .any(|c| c.attention_mask.iter().all(|&m| m == 1))
    );
    assert!(r.cases.iter().any(|c| c.ids[TEXT_LEN - 1] == 0));
}

#[test]
fn encoder_output_matches_python_onnxruntime() {
    let r = reference();
    let rt = runtime();
    let dir = repo().join("models");
    let manifest = Manifest::load(&dir.join("manifest.json")).expect("models/manifest.json");
    let mut enc = TextEncoder::load(&rt, &dir, &manifest).expect("encoder loads");
    let case = &r.cases[r.encoded_case];
    let e = enc.encode(&case.text).expect("encode");
    assert_eq!(e.embeddings.dim(), (TEXT_LEN, EMBED_DIM));
    assert_eq!(r.last_hidden_state.len(), TEXT_LEN * EMBED_DIM);
    let max_diff = e
        .embeddings
        .iter()
        .zip(&r.last_hidden_state)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(max_diff <= 1e-4, "max |rust - python| = {max_diff}");
    let want_mask: Vec<f32> = case.attention_mask.iter().map(|&m| m as f32).collect();
    assert_eq!(e.mask.to_vec(), want_mask);
    // A different sentence gives different embeddings (the text reaches the encoder).
    let other = enc.encode(&r.cases[1].text).expect("encode");
    assert!(
        (&other.embeddings - &e.embeddings)
            .iter()
            .any(|d| d.abs() > 1e-2)
    );
}
