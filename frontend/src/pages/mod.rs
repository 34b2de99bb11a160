//! The two pages: send (`/`) and receive (`/s/{id}#{secret}`).
pub mod receive;
pub mod send;
