//! Finds the interrupted upload (kept by an earlier page, `ferry_worker::pending`) that the
//! chosen file and typed passphrase continue: a record of the file's size, which the
//! passphrase opens, naming the same file name and modification time. The caller then
//! re-seals every logged chunk from the file and compares before anything is sent.
use ferry_common::{
    Header, Keys, LinkSecret, TAG_LEN, b64,
    client::{Resumable, SealLog, ShareId},
    resume_record::ResumeSecrets,
};
use ferry_worker::{
    NotResumed, Phase, Report,
    pending::{Record, SEAL_ENTRY, Store},
};
use zeroize::Zeroizing;

use super::post;

/// An interrupted upload this file and passphrase continue.
pub struct Found {
    pub resumable: Resumable,
    pub header: Header,
    pub secret: LinkSecret,
    pub keys: Keys,
    pub log: SealLog,
}

/// The interrupted upload `file` and `passphrase` continue, if any; else why the best
/// candidate (a record of the same size) did not fit.
pub async fn find(
    store: Option<&Store>,
    file: &web_sys::File,
    passphrase: &str,
) -> Result<Found, Option<NotResumed>> {
    let store = store.ok_or(None)?;
    let size = file.size() as u64;
    let records = store.records().await.map_err(|_| None)?;
    let mut why = None;
    // Bounded: at most `MAX_RECORDS` records are kept.
    for record in records.into_iter().filter(|r| r.size == size) {
        match try_record(store, &record, file, passphrase).await {
            Ok(found) => return Ok(found),
            Err(reason) => why = why.or(reason),
        }
    }
    Err(why)
}

async fn try_record(
    store: &Store,
    record: &Record,
    file: &web_sys::File,
    passphrase: &str,
) -> Result<Found, Option<NotResumed>> {
    let header_bytes = b64::decode(&record.header).map_err(|_| None)?;
    let header = Header::parse(&header_bytes).map_err(|_| None)?;
    let secret = LinkSecret::from_fragment(&record.link_secret).map_err(|_| None)?;
    let share_id = ShareId::parse(&record.share_id).map_err(|_| None)?;
    if header.ciphertext_len(record.size) != record.ciphertext_size {
        return Err(None);
    }
    post(
        &Report::Phase {
            phase: Phase::DerivingKeys,
            engine: None,
        },
        None,
    );
    let keys = Keys::derive(&header, passphrase, Some(&secret)).map_err(|_| None)?;
    let sealed = b64::decode(&record.sealed).map_err(|_| None)?;
    let secrets = ResumeSecrets::open(&sealed, &keys.resume_record, share_id.as_str())
        .map_err(|_| Some(NotResumed::OtherPassphrase))?;
    if secrets.name != file.name() || secrets.last_modified_ms != file.last_modified() as u64 {
        return Err(Some(NotResumed::OtherFile));
    }
    let chunks = header.chunk_count(record.size);
    let mut log = SealLog::new(chunks);
    let entries = store.seals(share_id.as_str()).await.map_err(|_| None)?;
    for entry in entries.chunks_exact(SEAL_ENTRY) {
        let (index, tag) = entry.split_at(8);
        let index = u64::from_le_bytes(index.try_into().map_err(|_| None)?);
        let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| None)?;
        // A conflicting duplicate cannot come from one upload: refuse the record.
        log.restore(index, tag).map_err(|_| None)?;
    }
    Ok(Found {
        resumable: Resumable {
            share_id,
            upload_token: Zeroizing::new(secrets.upload_token.to_vec()),
            owner_token: Zeroizing::new(secrets.owner_token.to_vec()),
            header: header_bytes,
            ciphertext_size: record.ciphertext_size,
        },
        header,
        secret,
        keys,
        log,
    })
}
