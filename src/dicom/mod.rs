//! DICOM networking: association acceptance, DIMSE messages, the C-ECHO/C-STORE SCP and the
//! C-STORE SCU. Object building and pixel decoding live elsewhere.
pub mod accept;
pub mod dimse;
pub mod scp;
pub mod scu;
