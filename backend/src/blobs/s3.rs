//! Opening an S3-compatible bucket (AWS, MinIO, Garage, Ceph, R2, s3s-fs) as the blob store.
//!
//! The settings come from flags (`config.rs`); the credentials only from the environment,
//! so they never appear in a process listing, and they are never printed: their `Debug`
//! shows that they are set, not what they are.
use std::{fmt, sync::Arc};

use anyhow::Context;
use futures_util::StreamExt;
use object_store::{
    ObjectStore,
    aws::{AmazonS3Builder, S3ConditionalPut},
    path::Path,
    prefix::PrefixStore,
};

/// Where in which bucket the blobs go, and how to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Settings {
    /// The service's URL (`https://s3.example.org`, `http://127.0.0.1:9000`); `None`
    /// means AWS itself, addressed by `region`.
    pub endpoint: Option<String>,
    /// The bucket; it must exist (the server never creates buckets).
    pub bucket: String,
    /// The bucket's region (most S3-compatible services accept any, often `us-east-1`).
    pub region: String,
    /// A key prefix (`ferry/` or `instance-a`) so that one bucket can hold more than
    /// Ferry's objects; empty for none.
    pub prefix: String,
    /// Plain `http://` endpoints are refused unless this is set (loopback tests, a
    /// private network): the credentials' signatures and the ciphertext would travel in
    /// the clear.
    pub allow_http: bool,
    /// `https://bucket.host/key` instead of `https://host/bucket/key`.
    pub virtual_hosted: bool,
    /// Static credentials; `None` leaves it to the environment of the host (instance
    /// metadata, web identity), as `object_store` does.
    pub credentials: Option<S3Credentials>,
}

/// An access key and its secret (and a session token for temporary credentials).
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    /// The access key ID (not secret by itself, but kept out of logs with the rest).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// A session token (temporary credentials).
    pub session_token: Option<String>,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("S3Credentials(<redacted>)")
    }
}

impl S3Credentials {
    /// Reads `FERRY_S3_ACCESS_KEY_ID` and `FERRY_S3_SECRET_ACCESS_KEY` (and
    /// `FERRY_S3_SESSION_TOKEN`), else the standard `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`; `None` if neither pair is set.
    pub fn from_env() -> Option<S3Credentials> {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// As [`S3Credentials::from_env`], reading variables through `var`.
    pub(crate) fn from_vars(var: impl Fn(&str) -> Option<String>) -> Option<S3Credentials> {
        ["FERRY_S3", "AWS"].into_iter().find_map(|scheme| {
            Some(S3Credentials {
                access_key_id: var(&format!("{scheme}_ACCESS_KEY_ID"))?,
                secret_access_key: var(&format!("{scheme}_SECRET_ACCESS_KEY"))?,
                session_token: var(&format!("{scheme}_SESSION_TOKEN")),
            })
        })
    }
}

/// Opens the bucket and checks that it answers: a missing bucket, wrong credentials or
/// an unreachable endpoint stop the server at startup instead of failing every upload.
pub(crate) async fn open(settings: &S3Settings) -> anyhow::Result<Arc<dyn ObjectStore>> {
    // reqwest is built without a default TLS provider (no aws-lc-rs): use ring, as the
    // server's own TLS does. Installing twice (several servers in one test process) is
    // refused harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&settings.bucket)
        .with_region(&settings.region)
        .with_allow_http(settings.allow_http)
        .with_virtual_hosted_style_request(settings.virtual_hosted)
        // Segments are written with `If-None-Match: *` (PutMode::Create).
        .with_conditional_put(S3ConditionalPut::ETagMatch);
    if let Some(endpoint) = &settings.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(creds) = &settings.credentials {
        builder = builder
            .with_access_key_id(&creds.access_key_id)
            .with_secret_access_key(&creds.secret_access_key);
        if let Some(token) = &creds.session_token {
            builder = builder.with_token(token);
        }
    }
    let s3 = builder.build().context("configuring the S3 blob store")?;
    let store: Arc<dyn ObjectStore> = match settings.prefix.trim_matches('/') {
        "" => Arc::new(s3),
        prefix => Arc::new(PrefixStore::new(s3, prefix)),
    };
    probe(store.as_ref()).await.with_context(|| {
        format!(
            "the S3 bucket {:?} at {} does not answer (is it created, are the credentials right?)",
            settings.bucket,
            settings.endpoint.as_deref().unwrap_or("AWS")
        )
    })?;
    Ok(store)
}

/// The S3 error codes services answer when a write does not fit: Ceph RGW's bucket and
/// user quotas (`QuotaExceeded`, with 403), MinIO's full drives (`XMinioStorageFull`, with
/// 507) and the generic `InsufficientStorage`.
const FULL_CODES: [&str; 3] = ["QuotaExceeded", "XMinioStorageFull", "InsufficientStorage"];

/// Whether the bucket refused a request for lack of space (HTTP 507 Insufficient Storage,
/// or one of [`FULL_CODES`]), so that the upload is refused as storage-full, which the
/// client may retry later, not as a server failure.
///
/// object_store keeps a failed response's status and body only in the text of its private
/// request error ("Server returned non-2xx status code: 507 Insufficient Storage:
/// <?xml …><Error><Code>XMinioStorageFull</Code>…"), somewhere down the error's causes, so
/// that text is what is read.
pub(crate) fn refused_for_space(err: &object_store::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(err) = cause {
        let text = err.to_string();
        let coded = |code: &str| text.contains(&format!("<Code>{code}</Code>"));
        if text.contains("status code: 507 ") || FULL_CODES.into_iter().any(coded) {
            return true;
        }
        cause = err.source();
    }
    false
}

/// Lists at most one page of segments: proves the bucket exists and the credentials may
/// read it, whatever the bucket holds.
async fn probe(store: &dyn ObjectStore) -> object_store::Result<()> {
    let prefix = Path::from(super::SEGMENTS);
    match store.list(Some(&prefix)).next().await {
        Some(Err(err)) => Err(err),
        Some(Ok(_)) | None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::{Read, Write},
        net::TcpListener,
    };

    use object_store::RetryConfig;

    use super::*;
    use crate::blobs::BlobStore;

    /// An HTTP server on 127.0.0.1 that reads each request whole and answers it with
    /// `status` and the S3 error `code`: what S3-compatible services answer, which s3s-fs
    /// cannot be made to (on a full disk it answers 500 `InternalError`).
    fn answering(status: &'static str, code: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for socket in listener.incoming() {
                let Ok(mut socket) = socket else { return };
                read_request(&mut socket);
                let body = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>\
                     <Message>refused</Message></Error>"
                );
                let _ = write!(
                    socket,
                    "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        endpoint
    }

    /// Reads a request's head and as much body as its `Content-Length` says.
    fn read_request(socket: &mut std::net::TcpStream) {
        let mut got = Vec::new();
        let mut piece = [0u8; 8192];
        let head_end = loop {
            match socket.read(&mut piece) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&piece[..n]),
            }
            if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
        };
        let head = String::from_utf8_lossy(&got[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while got.len() < head_end + length {
            match socket.read(&mut piece) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&piece[..n]),
            }
        }
    }

    /// A blob store on `endpoint` through object_store's real S3 client, without retries
    /// (it would retry a 507 for up to three minutes).
    fn store_at(endpoint: &str) -> BlobStore {
        let retry = RetryConfig {
            max_retries: 0,
            ..RetryConfig::default()
        };
        let s3 = AmazonS3Builder::new()
            .with_bucket_name("bucket")
            .with_region("us-east-1")
            .with_endpoint(endpoint)
            .with_allow_http(true)
            .with_access_key_id("key")
            .with_secret_access_key("secret")
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_retry(retry)
            .build()
            .unwrap();
        BlobStore {
            store: Arc::new(s3),
            local_root: None,
        }
    }

    #[tokio::test]
    async fn a_bucket_out_of_space_is_storage_full_and_nothing_else_is() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let cases = [
            ("507 Insufficient Storage", "XMinioStorageFull", true),
            ("403 Forbidden", "QuotaExceeded", true),
            ("507 Insufficient Storage", "InsufficientStorage", true),
            ("500 Internal Server Error", "InternalError", false),
            ("403 Forbidden", "AccessDenied", false),
            ("400 Bad Request", "EntityTooLarge", false),
        ];
        for (status, code, full) in cases {
            let blobs = store_at(&answering(status, code));
            let payload = bytes::Bytes::from_static(b"sealed chunks").into();
            let err = blobs
                .put_segment("AAAABBBBCCCCDDDDEEEEFF", 0, payload)
                .await
                .expect_err("the bucket refuses every write");
            let err = err.context("writing a segment");
            assert_eq!(
                crate::space::is_storage_full(&err),
                full,
                "{status} {code}: {err:#}"
            );
        }
    }

    #[test]
    fn credentials_prefer_ferrys_variables_and_never_print() {
        let vars = |set: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                set.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        const BOTH: [(&str, &str); 4] = [
            ("AWS_ACCESS_KEY_ID", "aws-id"),
            ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
            ("FERRY_S3_ACCESS_KEY_ID", "ferry-id"),
            ("FERRY_S3_SECRET_ACCESS_KEY", "ferry-secret"),
        ];
        let creds = S3Credentials::from_vars(vars(&BOTH)).unwrap();
        assert_eq!(creds.access_key_id, "ferry-id");
        assert_eq!(creds.secret_access_key, "ferry-secret");
        assert!(!format!("{creds:?}").contains("secret"));
        let aws = S3Credentials::from_vars(vars(&BOTH[..2])).unwrap();
        assert_eq!(aws.access_key_id, "aws-id");
        // Half a pair is no credentials, not a half-configured store.
        assert!(S3Credentials::from_vars(vars(&BOTH[2..3])).is_none());
    }
}
