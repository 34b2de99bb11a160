//! `ferry invite`: asks the server for an invitation with the caller's upload token and
//! prints its link, `<server>/#invite=fi1.…`; whoever opens it in the web app (or passes
//! it to `ferry send --invitation`) can send one file.
use ferry_common::protocol::InvitationRequest;
pub use ferry_common::units::parse_size;

use crate::{
    credential::Credential,
    error::{Error, Result},
    link::Server,
    net, progress, time,
};

/// Makes the invitation and returns its link.
pub async fn run(
    server: &str,
    token: &Credential,
    max_bytes: u64,
    expires_secs: u64,
) -> Result<String> {
    let server = Server::parse(server)?;
    let request = InvitationRequest {
        max_bytes,
        expires_in_secs: expires_secs,
    };
    let made = net::create_invitation(&server, token.as_str(), &request).await?;
    let invitation = made.invitation.ok_or_else(|| {
        Error::Network("the server made an invitation but did not send it".into())
    })?;
    progress::info(format!(
        "One file of up to {} bytes, until {}. Anyone with this link can use it once.",
        made.max_bytes,
        time::format_utc(made.expires_at)
    ));
    Ok(format!(
        "{}/#invite={invitation}",
        server.as_str().trim_end_matches('/')
    ))
}
