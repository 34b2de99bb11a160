//! The transport: two HTTP GETs (reqwest) and the WebSocket (tokio-tungstenite), with
//! every failure turned into a typed [`Error`].
use std::{
    path::Path,
    sync::{Arc, OnceLock},
    time::Duration,
};

use ferry_common::protocol::{
    ErrorBody, INVITATIONS_PATH, Invitation, InvitationRequest, LIMITS_PATH, Limits, SHARES_PATH,
    ShareInfo,
};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    Connector, MaybeTlsStream, WebSocketStream,
    tungstenite::{Bytes, Message, protocol::WebSocketConfig},
};

use crate::{
    error::{Error, Result},
    link::Server,
};

/// How long a transfer may see no message from the server before giving up.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest frame accepted from the server: a 16 MiB chunk (the format's maximum) plus tag.
const MAX_FRAME: usize = 16 * 1024 * 1024 + 1024;

/// A connected WebSocket.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The TLS client configuration every https:// and wss:// connection uses.
static TLS: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();

/// Sets up TLS once, before any connection: the public roots (webpki-roots, so the result
/// does not depend on the machine's certificate store) plus the CA certificates in the
/// PEM file `ca_cert`, if given.
pub fn init_tls(ca_cert: Option<&Path>) -> Result<()> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = public_roots();
    if let Some(path) = ca_cert {
        let bad = |e: &dyn std::fmt::Display| {
            Error::Usage(format!(
                "cannot use the CA certificates in {}: {e}",
                path.display()
            ))
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(&e))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad(&e))?;
        if certs.is_empty() {
            return Err(bad(&"the file holds no PEM certificate"));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| bad(&e))?;
        }
    }
    let _ = TLS.set(client_config(roots));
    Ok(())
}

fn public_roots() -> rustls::RootCertStore {
    rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned())
}

fn client_config(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn tls() -> Arc<rustls::ClientConfig> {
    // `init_tls` runs first in `main`; the fallback (public roots only) serves unit tests.
    TLS.get_or_init(|| client_config(public_roots())).clone()
}

fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .use_preconfigured_tls((*tls()).clone())
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| Error::Network(format!("cannot set up HTTP: {e}")))
}

fn unreachable(server: &Server, e: impl std::fmt::Display) -> Error {
    Error::Network(format!(
        "cannot reach the server at {}: {e}",
        server.as_str()
    ))
}

/// `GET /api/limits`.
pub async fn limits(server: &Server) -> Result<Limits> {
    let resp = http_client()?
        .get(server.http(LIMITS_PATH))
        .send()
        .await
        .map_err(|e| unreachable(server, error_chain(&e)))?;
    if !resp.status().is_success() {
        return Err(Error::Network(format!(
            "the server at {} answered {} to a request for its limits; is this a Ferry server?",
            server.as_str(),
            resp.status()
        )));
    }
    resp.json()
        .await
        .map_err(|e| Error::Network(format!("the server sent malformed limits: {e}")))
}

/// `POST /api/invitations` with the upload token `token`: a new invitation.
pub async fn create_invitation(
    server: &Server,
    token: &str,
    request: &InvitationRequest,
) -> Result<Invitation> {
    let resp = http_client()?
        .post(server.http(INVITATIONS_PATH))
        .bearer_auth(token)
        .json(request)
        .send()
        .await
        .map_err(|e| unreachable(server, error_chain(&e)))?;
    if resp.status().is_success() {
        return resp
            .json()
            .await
            .map_err(|e| Error::Network(format!("the server sent a malformed invitation: {e}")));
    }
    let status = resp.status();
    match resp.json::<ErrorBody>().await {
        Ok(body) => Err(Error::from_server(body)),
        Err(_) => Err(Error::Network(format!(
            "the server answered {status} to a request for an invitation"
        ))),
    }
}

/// `GET /api/shares/{id}`: 404/410 become [`Error::Gone`].
pub async fn share_info(server: &Server, share_id: &str) -> Result<ShareInfo> {
    let resp = http_client()?
        .get(server.http(&format!("{SHARES_PATH}/{share_id}")))
        .send()
        .await
        .map_err(|e| unreachable(server, error_chain(&e)))?;
    let status = resp.status();
    if status.is_success() {
        return resp.json().await.map_err(|e| {
            Error::Network(format!("the server sent malformed share information: {e}"))
        });
    }
    if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
        let body = resp.json::<ErrorBody>().await.ok();
        return Err(match body {
            Some(body) => match Error::from_server(body) {
                gone @ Error::Gone(_) => gone,
                _ => Error::Gone(crate::error::Gone::NotFound),
            },
            None => Error::Gone(crate::error::Gone::NotFound),
        });
    }
    Err(Error::Network(format!(
        "the server answered {status} to a request for the share"
    )))
}

/// Opens the WebSocket at `path`.
pub async fn connect(server: &Server, path: &str) -> Result<Socket> {
    let config = WebSocketConfig::default()
        .max_frame_size(Some(MAX_FRAME))
        .max_message_size(Some(MAX_FRAME));
    let (socket, _) = tokio_tungstenite::connect_async_tls_with_config(
        server.ws(path),
        Some(config),
        true,
        Some(Connector::Rustls(tls())),
    )
    .await
    .map_err(|e| unreachable(server, e))?;
    Ok(socket)
}

/// Sends a control message (JSON from the client core) as a text frame.
pub async fn send_text<S>(sink: &mut S, text: String) -> Result<()>
where
    S: SinkExt<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    sink.send(Message::text(text)).await.map_err(broken)
}

/// What the server sent, for the client core to judge.
pub enum Incoming {
    /// A text frame (a JSON control message).
    Text(String),
    /// A binary frame (one sealed chunk).
    Binary(Bytes),
    /// The server closed the socket, with the close frame's reason if it gave one.
    Closed(Option<String>),
}

/// The next text or binary frame or the close, skipping pings; a broken connection or
/// an idle server is an error.
pub async fn next<S>(stream: &mut S) -> Result<Incoming>
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    // Bounded by the idle timeout on each wait; pings come at most as often as the server
    // sends them.
    loop {
        let msg = tokio::time::timeout(IDLE_TIMEOUT, stream.next())
            .await
            .map_err(|_| {
                Error::Network(format!(
                    "the server sent nothing for {} seconds; giving up",
                    IDLE_TIMEOUT.as_secs()
                ))
            })?;
        match msg {
            None => return Ok(Incoming::Closed(None)),
            Some(Err(e)) => return Err(broken(e)),
            Some(Ok(Message::Text(text))) => return Ok(Incoming::Text(text.as_str().to_owned())),
            Some(Ok(Message::Binary(data))) => return Ok(Incoming::Binary(data)),
            Some(Ok(Message::Close(frame))) => {
                return Ok(Incoming::Closed(frame.map(|f| f.reason.to_string())));
            }
            Some(Ok(_)) => continue,
        }
    }
}

/// A broken WebSocket.
pub fn broken(e: tokio_tungstenite::tungstenite::Error) -> Error {
    Error::Network(format!("the connection to the server broke: {e}"))
}

/// An error with its sources, for reqwest's terse top-level messages.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
