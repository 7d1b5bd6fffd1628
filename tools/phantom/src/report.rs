//! The radiology report of a phantom study, as a radiologist might word it: history, technique,
//! comparison, findings by region with varied SUV and image phrasings, reference-uptake and
//! prior-exam distractors, and an impression without numbers; plus its HL7 v2.5.1 ORU^R01 form.
//! Numbers come from the measured truth (`study`), never from the targets.

use crate::dcm::Header;
use crate::rng::Rng;
use crate::tracer::Tracer;
use crate::truth::LesionTruth;
use hl7_parser::message::Separators;
use petground::hl7::escape;

fn cap(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| {
        f.to_uppercase().collect::<String>() + c.as_str()
    })
}

fn avid(t: Tracer) -> &'static str {
    match t {
        Tracer::Fdg => "FDG-avid",
        Tracer::Psma => "PSMA-avid",
        Tracer::Dotatate => "DOTATATE-avid",
    }
}

fn suv_phrase(s: f64, rng: &mut Rng) -> String {
    match rng.below(5) {
        0 => format!("SUVmax {s:.1}"),
        1 => format!("SUV max of {s:.1}"),
        2 => format!("SUVmax: {s:.1}"),
        3 => format!("max SUV {s:.1}"),
        _ => format!("SUVmax = {s:.1}"),
    }
}

fn image_phrase(n: usize, rng: &mut Rng) -> String {
    match rng.below(5) {
        0 => format!("image {n}"),
        1 => format!("(series 4, image {n})"),
        2 => format!("slice {n}"),
        3 => format!("im {n}"),
        _ => format!("series 4 image {n}"),
    }
}

/// One sentence for one lesion; `prior` adds a previous-exam value as a distractor.
pub fn lesion_sentence(
    l: &LesionTruth,
    tracer: Tracer,
    prior: Option<f64>,
    rng: &mut Rng,
) -> String {
    let d_cm = l.diameter_mm / 10.0;
    let d2_cm = (d_cm * rng.range(0.6, 0.95) * 10.0).round() / 10.0;
    let site = l.site_text.as_str();
    let suv = suv_phrase(l.reported_suv_max, rng);
    let img = image_phrase(l.instance_number, rng);
    let prior = prior.map_or(String::new(), |p| match rng.below(2) {
        0 => format!(" (previously SUVmax {p:.1})"),
        _ => format!(", previously SUVmax {p:.1}"),
    });
    match rng.below(5) {
        0 => format!(
            "{} measuring {d_cm:.1} cm with {suv}{prior}, {img}.",
            cap(site)
        ),
        1 => format!("Hypermetabolic {site} ({d_cm:.1} cm), {suv}{prior}, {img}."),
        2 => format!(
            "There is a {d_cm:.1} x {d2_cm:.1} cm {site} with intense uptake, {suv}, on {img}{prior}."
        ),
        3 => format!(
            "{} on {img} demonstrates uptake with {suv}{prior}.",
            cap(site)
        ),
        _ => format!(
            "{} {site} measures {d_cm:.1} cm, {suv} {img}{prior}.",
            avid(tracer)
        ),
    }
}

fn physiologic(t: Tracer) -> &'static str {
    match t {
        Tracer::Fdg => "Physiologic uptake in the brain, myocardium, kidneys and urinary bladder.",
        Tracer::Psma => {
            "Physiologic tracer distribution in the salivary glands, liver, kidneys and bladder."
        }
        Tracer::Dotatate => {
            "Physiologic uptake in the pituitary, spleen, liver, kidneys and bladder."
        }
    }
}

/// The plain-text report and, per lesion (same order as `lesions`), its sentence.
pub fn write_report(
    h: &Header,
    lesions: &[LesionTruth],
    liver_ref_max: f64,
    blood_ref_mean: f64,
    rng: &mut Rng,
) -> (String, Vec<String>) {
    let comparison = rng.chance(0.5);
    let mut sentences = Vec::new();
    for l in lesions {
        let prior = (comparison && rng.chance(0.5)).then(|| {
            let f = if rng.chance(0.5) {
                rng.range(0.4, 0.85)
            } else {
                rng.range(1.2, 1.6)
            };
            ((l.reported_suv_max * f).max(1.0) * 10.0).round() / 10.0
        });
        sentences.push(lesion_sentence(l, h.tracer, prior, rng));
    }
    let mut t = String::new();
    let history = match h.tracer {
        Tracer::Fdg => "Lung cancer, restaging.",
        Tracer::Psma => "Prostate cancer with rising PSA.",
        Tracer::Dotatate => "Neuroendocrine tumor, staging.",
    };
    let minutes = (h.delta_t_s() / 60.0).round();
    t += &format!("CLINICAL HISTORY: {history}\n\n");
    t += &format!(
        "TECHNIQUE: {:.1} MBq of {} was administered intravenously. Imaging from the vertex to the thighs began {minutes} minutes after injection. A low-dose CT was obtained for attenuation correction and localization.\n\n",
        h.dose_bq / 1e6,
        h.tracer.short()
    );
    if comparison {
        t += "COMPARISON: PET/CT from 6 months prior.\n\n";
    } else {
        t += "COMPARISON: None.\n\n";
    }
    t += "FINDINGS:\n";
    t += &format!("{}\n", physiologic(h.tracer));
    if rng.chance(0.5) {
        t += &format!(
            "Liver reference SUVmax {liver_ref_max:.1}; mediastinal blood pool SUVmean {blood_ref_mean:.1}.\n"
        );
    } else {
        t += &format!(
            "Mediastinal blood pool SUV mean of {blood_ref_mean:.1} and liver SUVmax {liver_ref_max:.1} for reference.\n"
        );
    }
    // Findings in cranio-caudal order, one sentence per line, with a negative sentence mixed in.
    let mut order: Vec<usize> = (0..lesions.len()).collect();
    order.sort_by(|a, b| lesions[*b].centre_mm[2].total_cmp(&lesions[*a].centre_mm[2]));
    for i in order {
        t += &sentences[i];
        t += "\n";
    }
    t += "No abnormal uptake in the remaining soft tissues.\n";
    if lesions.is_empty() {
        t += "No suspicious hypermetabolic lesion.\n";
    }
    t += "\nIMPRESSION:\n";
    if lesions.is_empty() {
        t += "1. No evidence of tracer-avid malignancy.\n";
    } else {
        let sites: Vec<&str> = lesions.iter().map(|l| l.site_text.as_str()).collect();
        t += &format!(
            "1. {} {}, compatible with metastatic disease.\n",
            cap(avid(h.tracer)),
            join_and(&sites)
        );
        if comparison {
            t += "2. Overall findings are progressive compared with the prior exam.\n";
        }
    }
    (t, sentences)
}

fn join_and(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [a] => (*a).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// HL7 escape sequences for the delimiters we declare in MSH-1/2 (`|^~\&`, hl7-parser's
/// default), by the node's own encoder.
fn esc(s: &str) -> String {
    escape::encode(s, &Separators::default())
}

/// The report as an HL7 v2.5.1 ORU^R01, segments separated by `\r` (no MLLP framing).
pub fn hl7_oru(h: &Header, text: &str, message_id: &str, report_time: &str) -> String {
    let name = &h.patient_name;
    let mut segs = vec![
        format!(
            "MSH|^~\\&|PHANTOM_RIS|PHANTOM|PETGROUND|PETGROUND|{}{report_time}||ORU^R01^ORU_R01|{message_id}|P|2.5.1",
            h.study_date
        ),
        format!(
            "PID|1||{}^^^PHANTOM^MR||{name}||{}|{}",
            h.patient_id, h.birth_date, h.sex
        ),
        format!("ORC|RE|{0}|{0}", h.accession),
    ];
    let mut obr = vec![String::new(); 26];
    obr[0] = "OBR".into();
    obr[1] = "1".into();
    obr[2] = h.accession.clone();
    obr[3] = h.accession.clone();
    obr[4] = "PETCTWB^PET/CT whole body^L".into();
    obr[7] = format!("{}{}", h.study_date, h.series_time);
    obr[18] = h.accession.clone();
    obr[22] = format!("{}{report_time}", h.study_date);
    obr[24] = "NM".into();
    obr[25] = "F".into();
    segs.push(obr.join("|"));
    let mut n = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        n += 1;
        segs.push(format!(
            "OBX|{n}|TX|REPORT^Report text^L|1|{}||||||F",
            esc(line)
        ));
    }
    segs.push(format!(
        "OBX|{}|ST|113014^DICOM Study^DCM||{}||||||F",
        n + 1,
        h.study_uid
    ));
    segs.join("\r") + "\r"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrasings_vary_across_draws() {
        let mut rng = Rng::new(4);
        let suv: std::collections::BTreeSet<String> =
            (0..200).map(|_| suv_phrase(7.2, &mut rng)).collect();
        let img: std::collections::BTreeSet<String> =
            (0..200).map(|_| image_phrase(145, &mut rng)).collect();
        assert_eq!(suv.len(), 5, "{suv:?}");
        assert_eq!(img.len(), 5, "{img:?}");
        assert!(suv.contains("SUV max of 7.2") && img.contains("(series 4, image 145)"));
    }

    #[test]
    fn hl7_text_is_escaped() {
        assert_eq!(esc(r"a|b^c&d~e\f"), r"a\F\b\S\c\T\d\R\e\E\f");
    }

    #[test]
    fn join_lists_read_naturally() {
        assert_eq!(join_and(&["a"]), "a");
        assert_eq!(join_and(&["a", "b", "c"]), "a, b and c");
    }
}
