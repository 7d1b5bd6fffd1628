//! Word lists the extractor reasons with: what announces an SUV or an image number, what marks a
//! value as belonging to a prior exam or to reference tissue, what names a lesion, and which
//! words negate uptake. All words are lower case; US and UK spellings both appear. Kept in one
//! place so that the rules in `measure` and `findings` read as rules, not as string soup.

/// Words that may follow an SUV keyword before its value ("SUV max of up to 7.2").
pub(crate) fn is_suv_filler(w: &str) -> bool {
    matches!(
        w,
        "max"
            | "maximum"
            | "maximal"
            | "bw"
            | "of"
            | "is"
            | "was"
            | "measuring"
            | "measures"
            | "measured"
            | "approximately"
            | "approx"
            | "about"
            | "around"
            | "roughly"
            | "up"
            | "to"
            | "reaching"
            | "value"
            | "values"
            | "now"
            | "currently"
            | "today"
            | "has"
            | "have"
            | "increased"
            | "decreased"
            | "risen"
            | "fallen"
            | "dropped"
            | "rose"
            | "fell"
            | "slightly"
            | "mildly"
            | "markedly"
            | "interval"
            | "an"
            | "a"
            | "the"
            | "at"
            | "ranging"
            | "range"
            | "between"
            | "from"
            | "greater"
            | "than"
            | "in"
            | "g"
            | "ml"
    )
}

/// Words that, after a value, may lead to a further value of the same SUV ("7.2, previously 4.1").
pub(crate) fn is_suv_connector(w: &str) -> bool {
    matches!(
        w,
        "and"
            | "or"
            | "to"
            | "from"
            | "vs"
            | "versus"
            | "previously"
            | "previous"
            | "prior"
            | "was"
            | "were"
            | "compared"
            | "comparison"
            | "with"
            | "on"
            | "the"
            | "now"
            | "currently"
            | "today"
            | "respectively"
            | "up"
            | "at"
            | "baseline"
            | "liver"
            | "blood"
            | "pool"
            | "mediastinal"
            | "background"
            | "g"
            | "ml"
            | "cc"
            | "study"
            | "exam"
            | "scan"
            | "in"
            | "is"
            | "of"
            | "right"
            | "left"
            | "bilateral"
            | "pet"
            | "ct"
            | "examination"
    )
}

/// Words that start the reader's interpretation of a lesion ("suspicious for metastasis",
/// "consistent with nodal disease"): lesion nouns after them name no further lesion.
pub(crate) fn is_interpretation(w: &str) -> bool {
    matches!(
        w,
        "suspicious"
            | "consistent"
            | "compatible"
            | "concerning"
            | "likely"
            | "favored"
            | "favoured"
            | "favor"
            | "favour"
            | "representing"
            | "represents"
            | "suggestive"
            | "keeping"
            | "worrisome"
            | "due"
            | "related"
            | "corresponds"
            | "probably"
            | "possibly"
            | "presumably"
            | "indeterminate"
            | "equivocal"
            | "typical"
            | "characteristic"
            | "diagnostic"
            | "highly"
    )
}

/// Words that spread uptake over several sites or tissue ("diffuse", "bilateral", "multiple"):
/// such uptake is no single lesion.
pub(crate) fn is_spread(w: &str) -> bool {
    matches!(
        w,
        "diffuse"
            | "diffusely"
            | "bilateral"
            | "bilaterally"
            | "multiple"
            | "several"
            | "scattered"
            | "widespread"
            | "multifocal"
            | "both"
            | "all"
            | "sites"
            | "segments"
            | "elsewhere"
            | "remaining"
            | "symmetric"
            | "symmetrical"
            | "generalized"
            | "generalised"
            | "uptakes"
            | "joints"
            | "muscles"
            | "degenerative"
            | "facets"
            | "facet"
            | "lesional"
    )
}

/// Words that make a clause about a prior exam ("on the prior study ... it measured SUVmax 3.2").
pub(crate) fn is_prior_clause_word(w: &str) -> bool {
    matches!(
        w,
        "prior" | "previous" | "previously" | "baseline" | "interim" | "earlier" | "before"
    )
}

/// Words that put the value after them on a prior exam.
pub(crate) fn is_prior(w: &str) -> bool {
    matches!(
        w,
        "previously"
            | "previous"
            | "prior"
            | "was"
            | "were"
            | "from"
            | "compared"
            | "comparison"
            | "vs"
            | "versus"
            | "baseline"
            | "before"
            | "earlier"
            | "formerly"
            | "initially"
            | "pretreatment"
            | "prev"
    )
}

/// Words after a value that say the value was the prior exam's ("5.0 on the prior").
pub(crate) fn is_prior_after(w: &str) -> bool {
    matches!(
        w,
        "previously"
            | "previous"
            | "prior"
            | "prev"
            | "baseline"
            | "before"
            | "earlier"
            | "formerly"
    )
}

/// Words that put the value after them on the current exam ("previously 4.1, now 7.2").
pub(crate) fn is_current(w: &str) -> bool {
    matches!(w, "now" | "currently" | "today" | "presently" | "current")
}

/// Units and nouns that make a number a size, dose, time or count, never an SUV or an image.
pub(crate) fn is_unit(w: &str) -> bool {
    matches!(
        w,
        "cm" | "mm"
            | "cc"
            | "x"
            | "mbq"
            | "mci"
            | "gbq"
            | "kg"
            | "lb"
            | "lbs"
            | "day"
            | "days"
            | "week"
            | "weeks"
            | "month"
            | "months"
            | "year"
            | "years"
            | "yr"
            | "yrs"
            | "hour"
            | "hours"
            | "hr"
            | "hrs"
            | "h"
            | "min"
            | "mins"
            | "minute"
            | "minutes"
            | "times"
            | "fold"
            | "cycles"
            | "mg"
            | "ng"
    ) || is_lesion_noun(w)
}

/// Words that announce an image number.
pub(crate) fn is_slice_anchor(w: &str) -> bool {
    matches!(
        w,
        "image" | "images" | "img" | "imgs" | "im" | "ims" | "slice" | "slices" | "sl" | "axial"
    )
}

/// Words allowed between an image keyword and its number ("image number 145", "image no. 145").
pub(crate) fn is_slice_filler(w: &str) -> bool {
    // "image n°145", "image no. 145", "image nr 145".
    matches!(w, "number" | "no" | "num" | "nr" | "n")
}

/// Nouns naming a lesion: they separate lesions in a list and make a number before them a count.
pub(crate) fn is_lesion_noun(w: &str) -> bool {
    matches!(
        w,
        "node"
            | "nodes"
            | "lesion"
            | "lesions"
            | "mass"
            | "masses"
            | "nodule"
            | "nodules"
            | "focus"
            | "foci"
            | "deposit"
            | "deposits"
            | "metastasis"
            | "metastases"
            | "tumor"
            | "tumors"
            | "tumour"
            | "tumours"
            | "implant"
            | "implants"
            | "carcinoma"
            | "sarcoma"
            | "adenoma"
            | "cholangiocarcinoma"
            | "gastrinoma"
            | "insulinoma"
            | "paraganglioma"
            | "pheochromocytoma"
            | "ln"
            | "lns"
            | "met"
            | "mets"
            | "conglomerate"
    )
}

/// The plural forms among [`is_lesion_noun`].
pub(crate) fn is_plural_lesion_noun(w: &str) -> bool {
    matches!(
        w,
        "nodes"
            | "lesions"
            | "masses"
            | "nodules"
            | "foci"
            | "deposits"
            | "metastases"
            | "tumors"
            | "tumours"
            | "implants"
            | "lns"
            | "mets"
    )
}

/// Words that say the subject is a lesion (not reference tissue).
pub(crate) fn is_lesion_cue(w: &str) -> bool {
    is_lesion_noun(w)
        || matches!(
            w,
            "lymph"
                | "lymphadenopathy"
                | "adenopathy"
                | "metastatic"
                | "hypermetabolic"
                | "hypermetabolism"
                | "avid"
                | "avidity"
                | "focal"
                | "intense"
                | "intensely"
                | "malignant"
                | "malignancy"
                | "neoplasm"
                | "neoplastic"
                | "recurrence"
                | "recurrent"
                | "thickening"
                | "consolidation"
                | "opacity"
                | "sclerotic"
                | "lytic"
                | "blastic"
                | "suspicious"
                | "expressing"
                | "positive"
                | "disease"
                | "involvement"
                | "primary"
                | "carcinoma"
                | "cancer"
                | "lymphoma"
                | "lad"
                | "sarcoma"
                | "adenoma"
                | "melanoma"
                | "myeloma"
                | "seminoma"
                | "expression"
                | "residual"
                | "hypodensity"
                | "hypodense"
                | "hypoattenuating"
                | "hypoechoic"
                | "enhancing"
        )
}

/// Words saying uptake is present: a sentence with an image number and one of these (and no
/// SUV) is a finding with `suv_max` null.
pub(crate) fn is_uptake_cue(w: &str) -> bool {
    matches!(
        w,
        "hypermetabolic"
            | "hypermetabolism"
            | "avid"
            | "avidity"
            | "uptake"
            | "activity"
            | "expression"
            | "expressing"
            | "positive"
            | "intense"
            | "intensely"
            | "accumulation"
            | "hyperactivity"
    )
}

/// Reference organs: an SUV whose only subject is one of these is reference uptake.
pub(crate) fn is_ref_organ(w: &str) -> bool {
    matches!(
        w,
        "liver"
            | "hepatic"
            | "spleen"
            | "splenic"
            | "parotid"
            | "parotids"
            | "salivary"
            | "aorta"
            | "aortic"
            | "marrow"
    )
}

/// Words that make an SUV reference or physiologic uptake even if a lesion word came earlier.
pub(crate) fn is_strong_ref(w: &str) -> bool {
    matches!(
        w,
        "background"
            | "pool"
            | "reference"
            | "physiologic"
            | "physiological"
            | "physiologically"
            | "normal"
            | "excretion"
            | "excreted"
            | "urinary"
            // Benign look-alikes that take up tracer: "thymic rebound", "brown fat", an
            // "injection site".
            | "rebound"
            | "brown"
            | "injection"
    )
}

/// Comparison words: a reference organ right after one of these is what the lesion is compared
/// with ("uptake greater than liver background"), not the value's subject.
pub(crate) fn is_comparator(w: &str) -> bool {
    matches!(
        w,
        "than"
            | "above"
            | "below"
            | "exceeding"
            | "exceeds"
            | "exceed"
            | "over"
            | "to"
            | "relative"
            | "compared"
            | "similar"
            | "equal"
            | "like"
            | "greater"
            | "higher"
            | "lower"
            | "less"
            | "more"
            | "approximating"
            | "surpassing"
    )
}

/// Words that start a negation of uptake ("no", "without", "non-avid", "not avid").
pub(crate) fn is_negator(w: &str) -> bool {
    matches!(
        w,
        "no" | "without" | "not" | "non" | "nonavid" | "absent" | "free" | "none"
    )
}

/// Words a negator may skip before the uptake word it negates ("no significant FDG uptake").
pub(crate) fn is_negation_qualifier(w: &str) -> bool {
    matches!(
        w,
        "significant"
            | "significantly"
            | "abnormal"
            | "abnormally"
            | "increased"
            | "appreciable"
            | "appreciably"
            | "focal"
            | "suspicious"
            | "definite"
            | "discernible"
            | "measurable"
            | "fdg"
            | "psma"
            | "dotatate"
            | "tracer"
            | "radiotracer"
            | "longer"
            | "receptor"
            | "somatostatin"
            | "an"
            | "any"
            | "associated"
            | "intense"
            | "hypermetabolic"
            | "pathologic"
            | "pathological"
            // "none shows abnormal uptake"
            | "shows"
            | "show"
            | "demonstrates"
            | "demonstrate"
    )
}

/// Words that mean uptake has gone.
pub(crate) fn is_resolution(w: &str) -> bool {
    // Not "photopenic": "peripheral uptake with a photopenic necrotic centre" is a lesion.
    matches!(w, "resolved" | "resolution" | "nonavid")
}

/// Comparisons that say uptake is raised ("greater than liver", "above blood pool").
pub(crate) fn is_elevating(w: &str) -> bool {
    matches!(
        w,
        "greater" | "higher" | "above" | "exceeding" | "exceeds" | "exceed" | "more"
    )
}

/// Verbs and signs that may stand right before a value after a subject phrase ("SUVmax of the
/// right hilar node is 7.2").
pub(crate) fn is_value_verb(w: &str) -> bool {
    matches!(
        w,
        "is" | "was" | "measures" | "measuring" | "measured" | "of" | "reaching" | "now" | "to"
    )
}
