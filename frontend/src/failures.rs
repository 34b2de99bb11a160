//! What a failed transfer says to a person, in the page's language, from the worker's
//! typed [`Failure`]: its code picks the sentence.
//!
//! A few server refusals carry figures or specifics only in the server's own sentence (a
//! quota's remaining bytes, how full the server's storage is, a rate limit's wait, why a
//! credential was refused); those keep the server's words, as do the worker's own
//! `internal` failures (a browser that broke, which no translated sentence would explain
//! better).
use ferry_common::protocol::ErrorCode;
use ferry_worker::{BLOB_CAP, Failure, FailureCode};

use crate::{format, tr};

/// Why a transfer failed, as a clause that follows "The upload failed: " (or the
/// download's).
pub(crate) fn reason(f: &Failure) -> String {
    match f.code {
        FailureCode::Network => tr!("why-network"),
        FailureCode::Read => tr!("why-read"),
        FailureCode::EmptyPassphrase => tr!("why-empty-passphrase"),
        FailureCode::Server(code) => server_reason(code).unwrap_or_else(|| f.message.clone()),
        _ => f.message.clone(),
    }
}

/// The failures whose words are a whole sentence of their own, whichever way the
/// transfer went.
fn sentence(f: &Failure) -> Option<String> {
    Some(match f.code {
        FailureCode::WrongPassphrase => tr!("wrong-passphrase"),
        FailureCode::LinkIncomplete => tr!("link-incomplete"),
        FailureCode::TooLarge => tr!("blob-too-large", max = format::bytes(BLOB_CAP)),
        _ => return None,
    })
}

/// The page's own words for a server refusal, where its code says all there is to say.
fn server_reason(code: ErrorCode) -> Option<String> {
    Some(match code {
        ErrorCode::CredentialRequired => tr!("why-credential-required"),
        ErrorCode::Internal => tr!("why-server-internal"),
        ErrorCode::TooManyConnections => tr!("why-too-many-connections"),
        ErrorCode::UnsupportedVersion => tr!("why-unsupported-version"),
        ErrorCode::SegmentMismatch => tr!("why-segment-mismatch"),
        ErrorCode::ForbiddenOrigin => tr!("why-forbidden-origin"),
        _ => return None,
    })
}

/// What a failed upload says.
pub(crate) fn upload(f: &Failure) -> String {
    sentence(f).unwrap_or_else(|| tr!("upload-failed", why = reason(f)))
}

/// What a failed download says. `handed_over`: the browser's own download had started
/// (so a partial file may be on disk).
pub(crate) fn download(f: &Failure, handed_over: bool) -> String {
    match f.code {
        FailureCode::Server(ErrorCode::WrongToken) => match f.attempts_left {
            Some(n) => tr!("wrong-passphrase-left", n = n),
            None => tr!("wrong-passphrase"),
        },
        FailureCode::Corrupted if handed_over => tr!("corrupted-handed-over"),
        FailureCode::Corrupted => tr!("corrupted"),
        FailureCode::Cancelled => tr!("download-cancelled"),
        FailureCode::Server(ErrorCode::Expired) => tr!("link-expired"),
        FailureCode::Server(ErrorCode::UsedUp | ErrorCode::NotFound) => tr!("no-longer-available"),
        FailureCode::Server(ErrorCode::Busy) => tr!("download-busy"),
        FailureCode::Server(ErrorCode::ClaimLost) => tr!("claim-lost"),
        _ => sentence(f).unwrap_or_else(|| tr!("download-failed", why = reason(f))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::{Lang, set_lang};

    fn failure(code: FailureCode) -> Failure {
        Failure::new(code, "the worker's words")
    }

    #[test]
    fn downloads_are_worded_by_their_code() {
        let mut wrong = failure(FailureCode::Server(ErrorCode::WrongToken));
        wrong.attempts_left = Some(1);
        assert_eq!(
            download(&wrong, false),
            "Wrong passphrase (or the link is not the one the sender gave you). 1 attempt left. Please try again."
        );
        let corrupted = failure(FailureCode::Corrupted);
        assert!(download(&corrupted, false).contains("Nothing was saved"));
        assert!(download(&corrupted, true).contains("marked failed: delete any partial file"));
        assert_eq!(
            download(&failure(FailureCode::Server(ErrorCode::Busy)), false),
            "Someone else is downloading this file right now; try again in a minute."
        );
        assert_eq!(
            download(&failure(FailureCode::Network), false),
            "The download failed: the connection to the server was lost or could not be opened; please try again."
        );
        // The worker's own failures keep its words.
        assert_eq!(
            download(&failure(FailureCode::Internal), false),
            "The download failed: the worker's words"
        );
    }

    #[test]
    fn uploads_keep_the_servers_figures_and_translate_the_rest() {
        let quota = Failure::new(
            FailureCode::Server(ErrorCode::QuotaExceeded),
            "this token may store 1.0 MiB more",
        );
        assert_eq!(
            upload(&quota),
            "The upload failed: this token may store 1.0 MiB more"
        );
        let broke = failure(FailureCode::Server(ErrorCode::Internal));
        assert_eq!(
            upload(&broke),
            "The upload failed: the server failed; nothing was kept. Please try again later."
        );
    }

    #[test]
    fn failures_follow_the_pages_language() {
        set_lang(Lang::De);
        let lost = upload(&failure(FailureCode::Network));
        assert!(
            lost.starts_with("Der Upload ist fehlgeschlagen: "),
            "{lost}"
        );
        assert!(!lost.contains("connection"), "{lost}");
        let read = upload(&failure(FailureCode::Read));
        assert!(!read.contains("worker's words"), "{read}");
    }
}
