//! Configuration: raw TOML → validated `Config` (CONTRACT §2).
