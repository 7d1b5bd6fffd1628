//! DICOM networking
