//! The coded concepts the SR writes (DCM, SCT, LN, UCUM, RFC5646), in one place, each with the
//! table it comes from. Values and meanings as in DICOM PS3.16 (checked against pydicom 3.0.1's
//! concept dictionary, generated from it); finding sites live in `site.rs`.

use crate::seg::Code;

fn dcm(value: &str, meaning: &str) -> Code {
    Code::new(value, "DCM", meaning)
}

fn sct(value: &str, meaning: &str) -> Code {
    Code::new(value, "SCT", meaning)
}

fn ucum(value: &str, meaning: &str) -> Code {
    Code::new(value, "UCUM", meaning)
}

/// Document title (CID 7021).
pub fn imaging_measurement_report() -> Code {
    dcm("126000", "Imaging Measurement Report")
}

// TID 1204 language.
pub fn language_of_content() -> Code {
    dcm("121049", "Language of Content Item and Descendants")
}
pub fn english_us() -> Code {
    Code::new("en-US", "RFC5646", "English (United States)")
}

// TID 1001 / 1004 observation context: the device.
pub fn observer_type() -> Code {
    dcm("121005", "Observer Type")
}
pub fn device() -> Code {
    dcm("121007", "Device")
}
pub fn device_observer_uid() -> Code {
    dcm("121012", "Device Observer UID")
}
pub fn device_observer_name() -> Code {
    dcm("121013", "Device Observer Name")
}
pub fn device_observer_manufacturer() -> Code {
    dcm("121014", "Device Observer Manufacturer")
}
pub fn device_observer_model_name() -> Code {
    dcm("121015", "Device Observer Model Name")
}
pub fn device_observer_serial_number() -> Code {
    dcm("121016", "Device Observer Serial Number")
}

/// TID 1500 row "Procedure reported" and its value (CID 100: LN 44139-4 "PET whole body").
pub fn procedure_reported() -> Code {
    dcm("121058", "Procedure reported")
}
pub fn pet_whole_body() -> Code {
    Code::new("44139-4", "LN", "PET whole body")
}

// TID 1600 image library.
pub fn image_library() -> Code {
    dcm("111028", "Image Library")
}
pub fn image_library_group() -> Code {
    dcm("126200", "Image Library Group")
}
pub fn modality() -> Code {
    dcm("121139", "Modality")
}
pub fn modality_pt() -> Code {
    dcm("PT", "Positron emission tomography")
}
pub fn frame_of_reference_uid() -> Code {
    dcm("112227", "Frame of Reference UID")
}
pub fn source() -> Code {
    sct("260753009", "Source")
}

// TID 1500 / 1411 / 1501 groups.
pub fn imaging_measurements() -> Code {
    dcm("126010", "Imaging Measurements")
}
pub fn measurement_group() -> Code {
    dcm("125007", "Measurement Group")
}
pub fn tracking_identifier() -> Code {
    dcm("112039", "Tracking Identifier")
}
pub fn tracking_unique_identifier() -> Code {
    dcm("112040", "Tracking Unique Identifier")
}
pub fn finding_category() -> Code {
    sct("276214006", "Finding category")
}
pub fn finding() -> Code {
    dcm("121071", "Finding")
}
pub fn finding_site() -> Code {
    sct("363698007", "Finding Site")
}
pub fn laterality() -> Code {
    sct("272741003", "Laterality")
}
pub fn referenced_segment() -> Code {
    dcm("121191", "Referenced Segment")
}
pub fn source_series_for_segmentation() -> Code {
    dcm("121232", "Source series for segmentation")
}
pub fn comment() -> Code {
    dcm("121106", "Comment")
}

// TID 4019 algorithm identification.
pub fn algorithm_name() -> Code {
    dcm("111001", "Algorithm Name")
}
pub fn algorithm_version() -> Code {
    dcm("111003", "Algorithm Version")
}
pub fn algorithm_parameters() -> Code {
    dcm("111002", "Algorithm Parameters")
}

// TID 300 / 1419 measurements (CID 7466 PET ROI measurements, CID 7464 derivations).
pub fn suvbw() -> Code {
    dcm("126401", "SUVbw")
}
pub fn derivation() -> Code {
    dcm("121401", "Derivation")
}
pub fn maximum() -> Code {
    sct("56851009", "Maximum")
}
pub fn mean() -> Code {
    sct("373098007", "Mean")
}
pub fn peak_value_within_roi() -> Code {
    dcm("126031", "Peak Value Within ROI")
}
pub fn metabolic_volume() -> Code {
    dcm("126032", "Metabolic Volume")
}
pub fn total_lesion_glycolysis() -> Code {
    dcm("126033", "Total Lesion Glycolysis")
}
/// CID 7470 linear measurement: the RECIST-style longest in-plane extent.
pub fn long_axis() -> Code {
    sct("103339001", "Long axis")
}

// Units (UCUM; CID 85 for SUV).
pub fn unit_suvbw() -> Code {
    ucum("g/ml{SUVbw}", "Standardized Uptake Value body weight")
}
pub fn unit_ml() -> Code {
    ucum("ml", "milliliter")
}
/// TLG = SUVmean (g/mL) × MTV (mL).
pub fn unit_gram() -> Code {
    ucum("g", "gram")
}
pub fn unit_mm() -> Code {
    ucum("mm", "millimeter")
}
