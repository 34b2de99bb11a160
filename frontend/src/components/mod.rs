//! Pieces the pages share.
pub mod drop_zone;
pub(crate) mod file_list;
pub mod interrupted;
pub(crate) mod invitation;
pub(crate) mod invite_form;
pub mod language;
pub mod passphrase_field;
pub mod progress;
pub(crate) mod secret_input;
pub(crate) mod selection_list;
pub(crate) mod share_choices;
pub mod share_link;
pub(crate) mod shared_panel;
pub(crate) mod upload_token;
