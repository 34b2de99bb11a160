//! Pieces the pages share.
pub mod drop_zone;
pub mod interrupted;
pub mod progress;
pub mod share_link;
