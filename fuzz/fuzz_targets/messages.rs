//! Hostile JSON into every protocol message parser. None may panic.
#![no_main]
use ferry_common::protocol::{DownloadEvent, DownloadRequest, UploadEvent, UploadRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<UploadRequest>(data);
    let _ = serde_json::from_slice::<UploadEvent>(data);
    let _ = serde_json::from_slice::<DownloadRequest>(data);
    let _ = serde_json::from_slice::<DownloadEvent>(data);
});
