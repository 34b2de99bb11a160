//! Pieces the pages share.
pub mod drop_zone;
pub mod progress;
pub mod share_link;
