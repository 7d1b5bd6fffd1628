//! Synthetic PET/CT studies (issue: end to end). Empty until that issue lands.
