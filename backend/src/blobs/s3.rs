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
    use super::*;

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
