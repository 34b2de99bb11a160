//! How an upload begins: a new share (keys, metadata, `start`), or the continuation of an
//! interrupted one that the chosen file and passphrase match (`resume`), checked against
//! every chunk sent before it goes on.
use ferry_common::{
    DEFAULT_CHUNK_SIZE, FileMetadata, Header, KdfParams, Keys, LinkSecret, Metadata,
    client::UploadLanes,
    manifest::Manifest,
    protocol::{PROTOCOL_VERSION, UploadRequest},
};
use ferry_worker::{Failure, FailureCode, NotResumed, Phase, Report, ResumeNote, pending::Store};

use super::{
    engine::{Chunks, failure},
    keeper::{Keeper, NewRecord},
    post,
    resume::Found,
    upload::{Ended, Producer, UploadOptions, drive, producers},
};

/// How continuing an interrupted upload went.
pub enum Continued {
    /// It ran to its end, committed or failed.
    Over(Result<(), Failure>),
    /// It cannot be continued (its record is removed); a new upload starts.
    Declined(NotResumed),
}

/// Continues the interrupted upload `found` describes, once the file proved the same.
pub async fn resumed(
    found: Found,
    file: &web_sys::File,
    store: Option<Store>,
    options: &UploadOptions,
) -> Continued {
    let Found {
        resumable,
        header,
        secret,
        keys,
        log,
    } = found;
    post(&Report::Resume(ResumeNote::Resuming), None);
    let size = file.size() as u64;
    let file = gloo_file::File::from(file.clone());
    let chunks = Chunks::sealer(&keys.payload, &header, options.aes).await;
    let share_id = resumable.share_id.as_str().to_owned();
    let lanes = chunks.lanes(options.lanes);
    let session = match UploadLanes::resume(&resumable, lanes) {
        Ok(session) => session,
        Err(e) => return Continued::Over(Err(Failure::from(e))),
    };
    let shape = (size, u64::from(header.chunk_size), session.total_chunks());
    let keeper = Keeper::resumed(store, share_id, log);
    let mut producers = producers(file, shape, (chunks, &header), keeper, lanes);
    let keeper = producers[0].keeper.clone();
    match producers[0].unchanged().await {
        Ok(true) => {}
        Ok(false) => {
            keeper.lock().await.forget().await;
            return Continued::Declined(NotResumed::FileChanged);
        }
        Err(failure) => return Continued::Over(Err(failure)),
    }
    let result = drive(session, producers, &secret, size).await;
    let begun = keeper.lock().await.begun();
    match result {
        // Refused at once (expired, abandoned, gone): its record is removed.
        Err(Ended {
            failure,
            fatal: true,
        }) if !begun && matches!(failure.code, FailureCode::Server(_)) => {
            Continued::Declined(NotResumed::ServerRefused)
        }
        other => Continued::Over(other.map_err(|e| e.failure)),
    }
}

/// Derives a new share's keys, seals its metadata and prepares its session.
pub async fn fresh(
    file: web_sys::File,
    passphrase: &str,
    options: &UploadOptions,
    store: Option<Store>,
) -> Result<(UploadLanes, Vec<Producer>, LinkSecret, u64), Failure> {
    post(
        &Report::Phase {
            phase: Phase::DerivingKeys,
            engine: None,
        },
        None,
    );
    let header =
        Header::generate(KdfParams::DEFAULT, DEFAULT_CHUNK_SIZE, false).map_err(failure)?;
    let secret = LinkSecret::generate().map_err(failure)?;
    let keys = Keys::derive(&header, passphrase, Some(&secret)).map_err(failure)?;
    let last_modified_ms = file.last_modified() as u64;
    let file = gloo_file::File::from(file);
    let size = file.size();
    let metadata = metadata(&file, options.manifest.clone())?
        .seal(&keys.metadata, &header)
        .map_err(failure)?;
    let chunks = Chunks::sealer(&keys.payload, &header, options.aes).await;
    let start = UploadRequest::Start {
        version: PROTOCOL_VERSION,
        header: header.to_bytes().to_vec().into(),
        metadata: metadata.into(),
        verifier: keys.download_token.verifier().to_vec().into(),
        expires_in_secs: options.expires_in_secs,
        max_downloads: options.max_downloads,
        ciphertext_size: header.ciphertext_len(size),
        credential: options.credential.clone(),
    };
    let lanes = chunks.lanes(options.lanes);
    let session = UploadLanes::new(&start, lanes).map_err(Failure::from)?;
    let total = session.total_chunks();
    let record = NewRecord {
        key: keys.resume_record.clone(),
        link_secret: secret.clone(),
        header: header.clone(),
        size,
        name: file.name(),
        last_modified_ms,
    };
    let shape = (size, u64::from(header.chunk_size), total);
    let keeper = Keeper::fresh(store, total, record);
    let producers = producers(file, shape, (chunks, &header), keeper, lanes);
    Ok((session, producers, secret, size))
}

/// What the share's sealed metadata describes: the one file, or the manifest of several
/// whose bytes `file` holds one after the other (refused unless its sizes add up to the
/// file's; sealing refuses one outside the limits).
fn metadata(file: &gloo_file::File, manifest: Option<Manifest>) -> Result<Metadata, Failure> {
    let Some(manifest) = manifest else {
        return Ok(Metadata::File(FileMetadata {
            name: file.name(),
            size: file.size(),
            media_type: file.raw_mime_type(),
        }));
    };
    if manifest.total_size() != file.size() {
        return Err(Failure::new(
            FailureCode::Read,
            "the files could not be read; were some moved or changed?",
        ));
    }
    Ok(Metadata::Files(manifest))
}
