//! What the service worker (`sw.js`) reports about a streaming download it fetches, opens
//! and saves, turned into the page's [`Report`]s. The transfer worker claims the download
//! and hands the service worker its source, then hands the page its end of the channel
//! ([`Report::HandedOver`]) and stops, so its memory (Argon2id grew it by 64 MiB) is freed
//! while the file streams; the page listens from then on.
use ferry_common::{client::ClientError, protocol::ErrorBody};
use serde::Deserialize;

use crate::{Failure, FailureCode, Phase, Report};

/// The AES engine of a streaming download, as the page shows it: WebCrypto, in the service
/// worker.
pub const ENGINE: &str = "webcrypto";

/// One message of the service worker.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum FromServiceWorker {
    /// The head of the file (or all of it) opened: the page may start the browser's
    /// download.
    Verified,
    /// Plaintext bytes opened and queued so far.
    Progress { done: u64 },
    /// A cut response is being retried.
    Reconnecting { attempt: u32 },
    /// Every chunk opened, the final one as the final one; the stream closed.
    End {
        #[serde(rename = "downloadsLeft")]
        downloads_left: Option<u32>,
    },
    /// The download failed; the stream was errored.
    Failed(Why),
}

/// Why the service worker failed a download.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum Why {
    /// The server refused a request.
    Refused { body: ErrorBody },
    /// The connection was lost more times in a row than it retries.
    Lost,
    /// A chunk did not open: the ciphertext was altered in storage.
    Corrupted,
    /// The person or the page cancelled it.
    Cancelled,
    /// Anything else.
    Internal { message: String },
}

impl From<Why> for Failure {
    fn from(why: Why) -> Failure {
        match why {
            Why::Refused { body } => Failure::from(ClientError::from(body)),
            Why::Lost => Failure::lost(),
            Why::Corrupted => Failure::new(
                FailureCode::Corrupted,
                ferry_common::Error::Corrupted.to_string(),
            ),
            Why::Cancelled => Failure::new(
                FailureCode::Cancelled,
                "the download was cancelled; any partial file is incomplete",
            ),
            Why::Internal { message } => Failure::new(FailureCode::Internal, message),
        }
    }
}

/// A streaming download of the file `name`, `size` bytes, as the page follows it.
pub struct SaveRelay {
    name: String,
    size: u64,
}

impl SaveRelay {
    /// Follows the download that [`Report::HandedOver`] announced.
    pub fn new(name: String, size: u64) -> SaveRelay {
        SaveRelay { name, size }
    }

    /// The reports one message of the service worker (as JSON) means, in order: none for
    /// a message this page does not know. The last is `Downloaded` or `Failed` once the
    /// download ended.
    pub fn reports(&self, json: &str) -> Vec<Report> {
        let Ok(message) = serde_json::from_str::<FromServiceWorker>(json) else {
            return Vec::new();
        };
        let phase = |phase| Report::Phase {
            phase,
            engine: Some(ENGINE.into()),
        };
        match message {
            FromServiceWorker::Verified => vec![Report::Streaming {
                name: self.name.clone(),
                size: self.size,
            }],
            FromServiceWorker::Progress { done } if done == self.size => vec![
                Report::Progress {
                    done,
                    total: self.size,
                },
                phase(Phase::Finishing),
            ],
            FromServiceWorker::Progress { done } => vec![Report::Progress {
                done,
                total: self.size,
            }],
            FromServiceWorker::Reconnecting { attempt } => {
                vec![phase(Phase::Reconnecting { attempt })]
            }
            FromServiceWorker::End { downloads_left } => vec![Report::Downloaded {
                name: self.name.clone(),
                downloads_left,
            }],
            FromServiceWorker::Failed(why) => vec![Report::Failed(why.into())],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_common::protocol::ErrorCode;

    #[test]
    fn the_service_workers_messages_become_typed_reports() {
        let relay = SaveRelay::new("a.bin".into(), 10);
        assert!(matches!(
            relay.reports(r#"{"type":"verified"}"#)[..],
            [Report::Streaming { size: 10, .. }]
        ));
        assert_eq!(relay.reports(r#"{"type":"progress","done":10}"#).len(), 2);
        assert!(matches!(
            relay.reports(r#"{"type":"end","downloadsLeft":null}"#)[..],
            [Report::Downloaded {
                downloads_left: None,
                ..
            }]
        ));
        let refused = r#"{"type":"failed","kind":"refused","status":409,
            "body":{"code":"claim-lost","message":"gone"}}"#;
        let [Report::Failed(f)] = &relay.reports(refused)[..] else {
            panic!("not a failure");
        };
        assert_eq!(f.code, FailureCode::Server(ErrorCode::ClaimLost));
        let [Report::Failed(f)] = &relay.reports(r#"{"type":"failed","kind":"corrupted"}"#)[..]
        else {
            panic!("not a failure");
        };
        assert_eq!(f.code, FailureCode::Corrupted);
        assert!(relay.reports(r#"{"type":"something-new"}"#).is_empty());
    }
}
