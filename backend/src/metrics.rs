//! What an operator watches: bytes in and out, transfers in progress, shares by state,
//! refusals by reason, store and database latency, in the Prometheus text format
//! (`text/plain; version=0.0.4`) at `/metrics` ([`serve`]).
//!
//! Every label value comes from a closed set the server itself names (a transport, an
//! operation, a share state, an [`ErrorCode`]'s wire spelling): never a share ID, a token,
//! a path, a client address or anything else a client sent, so scraping the metrics tells
//! nobody which shares exist or who sends them.
//!
//! Counters and histograms are updated where things happen (one atomic add each); the
//! gauges of shares by state and stored bytes are read from the database when scraped
//! ([`crate::store::ShareCounts`]), so they hold for every replica sharing it.
mod objects;
pub mod serve;

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use actix_web::{
    HttpResponse,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};
use ferry_common::protocol::ErrorCode;
use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::{Registry, Unit},
};

pub(crate) use self::objects::TimedObjects;
use crate::AppState;

/// How a transfer reaches the server.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Transport {
    /// A WebSocket (`/api/ws/upload`, `/api/ws/download`).
    Ws = 0,
    /// Plain HTTP requests (`/api/shares/{id}/chunks`).
    Http = 1,
}

/// An object-store operation.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum StoreOp {
    /// Writing an object.
    Put,
    /// Reading an object, or its metadata (time to the first byte of a streamed read).
    Get,
    /// Deleting one object.
    Delete,
    /// Listing objects (the whole listing).
    List,
}

/// A [`crate::store::ShareStore`] call that is timed.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum DbOp {
    /// Looking a share up.
    Lookup,
    /// Writing a new upload session.
    BeginUpload,
    /// Recording a stored segment.
    RecordSegment,
    /// Committing an upload.
    CommitUpload,
    /// Claiming a download (or resuming a claim).
    Claim,
    /// Counting a download.
    Consume,
    /// The counts read for a scrape.
    Counts,
}

/// A label value from a closed set, written in its metric spelling.
trait Spelled {
    fn spelling(&self) -> &'static str;
}

impl Spelled for Transport {
    fn spelling(&self) -> &'static str {
        match self {
            Transport::Ws => "ws",
            Transport::Http => "http",
        }
    }
}

impl Spelled for StoreOp {
    fn spelling(&self) -> &'static str {
        match self {
            StoreOp::Put => "put",
            StoreOp::Get => "get",
            StoreOp::Delete => "delete",
            StoreOp::List => "list",
        }
    }
}

impl Spelled for DbOp {
    fn spelling(&self) -> &'static str {
        match self {
            DbOp::Lookup => "lookup",
            DbOp::BeginUpload => "begin_upload",
            DbOp::RecordSegment => "record_segment",
            DbOp::CommitUpload => "commit_upload",
            DbOp::Claim => "claim",
            DbOp::Consume => "consume",
            DbOp::Counts => "counts",
        }
    }
}

macro_rules! spelled_label {
    ($($t:ty),*) => {$(
        impl EncodeLabelValue for $t {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                use std::fmt::Write;
                encoder.write_str(self.spelling())
            }
        }
    )*};
}
spelled_label!(Transport, StoreOp, DbOp);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByTransport {
    transport: Transport,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByStoreOp {
    op: StoreOp,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByDbOp {
    op: DbOp,
}

/// An [`ErrorCode`] in its wire spelling (`too-large`), the protocol's own closed set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByReason {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByState {
    state: &'static str,
}

type Latency<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latency buckets from 0.5 ms to about 16 s: a local fsync is around a millisecond, an
/// S3 request tens of milliseconds, a stuck one seconds.
fn latency_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0005, 2.0, 16,
    ))
}

struct Inner {
    registry: Registry,
    received: Family<ByTransport, Counter>,
    sent: Family<ByTransport, Counter>,
    uploads: Family<ByTransport, Gauge>,
    downloads: Family<ByTransport, Gauge>,
    /// The series bumped for every chunk, taken out of their families once so that the
    /// transfer path pays one atomic add, not a lock and a hash lookup.
    hot: Hot,
    open_sockets: Gauge,
    committed: Counter,
    counted: Counter,
    refusals: Family<ByReason, Counter>,
    shares: Family<ByState, Gauge>,
    claims: Family<ByState, Gauge>,
    stored: Gauge,
    store_latency: Latency<ByStoreOp>,
    db_latency: Latency<ByDbOp>,
}

/// The server's metrics: cheap to clone (one `Arc`), one set per server process.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric, registered and at zero.
    pub fn new() -> Metrics {
        let mut r = Registry::default();
        let inner = Inner {
            received: Family::default(),
            sent: Family::default(),
            uploads: Family::default(),
            downloads: Family::default(),
            open_sockets: Gauge::default(),
            committed: Counter::default(),
            counted: Counter::default(),
            refusals: Family::default(),
            shares: Family::default(),
            claims: Family::default(),
            stored: Gauge::default(),
            store_latency: Family::new_with_constructor(latency_histogram),
            db_latency: Family::new_with_constructor(latency_histogram),
            registry: Registry::default(),
            hot: Hot::default(),
        };
        let hot = Hot::of(&inner);
        r.register_with_unit(
            "ferry_upload_received",
            "Ciphertext bytes received from uploads",
            Unit::Bytes,
            inner.received.clone(),
        );
        r.register_with_unit(
            "ferry_download_sent",
            "Ciphertext bytes sent to downloads",
            Unit::Bytes,
            inner.sent.clone(),
        );
        r.register(
            "ferry_uploads_in_progress",
            "Uploads receiving segments now",
            inner.uploads.clone(),
        );
        r.register(
            "ferry_downloads_in_progress",
            "Downloads being served now (claimed, sending chunks)",
            inner.downloads.clone(),
        );
        r.register(
            "ferry_open_sockets",
            "WebSockets open now (under the socket caps)",
            inner.open_sockets.clone(),
        );
        r.register(
            "ferry_uploads_committed",
            "Uploads committed into shares",
            inner.committed.clone(),
        );
        r.register(
            "ferry_downloads_counted",
            "Downloads completed and counted against their share's limit",
            inner.counted.clone(),
        );
        r.register(
            "ferry_refusals",
            "Requests and sockets refused or failed, by the error code sent",
            inner.refusals.clone(),
        );
        r.register(
            "ferry_shares",
            "Shares in the database by state, read when scraped",
            inner.shares.clone(),
        );
        r.register(
            "ferry_download_claims",
            "Download claims whose lease runs, by state, read when scraped",
            inner.claims.clone(),
        );
        r.register_with_unit(
            "ferry_stored",
            "Ciphertext bytes of committed shares, read when scraped",
            Unit::Bytes,
            inner.stored.clone(),
        );
        r.register_with_unit(
            "ferry_store_operation_duration",
            "Object store operations, by operation",
            Unit::Seconds,
            inner.store_latency.clone(),
        );
        r.register_with_unit(
            "ferry_db_operation_duration",
            "Metadata database calls, by call",
            Unit::Seconds,
            inner.db_latency.clone(),
        );
        Metrics(Arc::new(Inner {
            registry: r,
            hot,
            ..inner
        }))
    }

    /// `bytes` of ciphertext received from an upload (uploads go over the socket only).
    pub fn received(&self, bytes: u64) {
        self.0.hot.received.inc_by(bytes);
    }

    /// `bytes` of ciphertext sent to a download.
    pub fn sent(&self, transport: Transport, bytes: u64) {
        self.0.hot.sent[transport as usize].inc_by(bytes);
    }

    /// An upload in progress until the guard is dropped.
    pub fn upload(&self) -> InProgress {
        InProgress::enter(self.0.hot.uploads.clone())
    }

    /// A download in progress until the guard is dropped.
    pub fn download(&self, transport: Transport) -> InProgress {
        InProgress::enter(self.0.hot.downloads[transport as usize].clone())
    }

    /// An upload was committed.
    pub fn committed(&self) {
        self.0.committed.inc();
    }

    /// A download was counted.
    pub fn counted(&self) {
        self.0.counted.inc();
    }

    /// The server refused or failed a request with `code`.
    pub fn refused(&self, code: ErrorCode) {
        self.0
            .refusals
            .get_or_create(&ByReason {
                reason: reason(code),
            })
            .inc();
    }

    /// Times one database call.
    pub async fn db<T>(&self, op: DbOp, call: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = call.await;
        self.db_took(op, started.elapsed());
        out
    }

    fn db_took(&self, op: DbOp, took: Duration) {
        self.0
            .db_latency
            .get_or_create(&ByDbOp { op })
            .observe(took.as_secs_f64());
    }

    pub(crate) fn store_took(&self, op: StoreOp, took: Duration) {
        self.0
            .store_latency
            .get_or_create(&ByStoreOp { op })
            .observe(took.as_secs_f64());
    }

    /// Sets the gauges read at scrape time.
    fn set_counts(&self, counts: &crate::store::ShareCounts, open_sockets: usize) {
        let gauge = |f: &Family<ByState, Gauge>, state, n: u64| {
            f.get_or_create(&ByState { state }).set(clamp(n));
        };
        gauge(&self.0.shares, "live", counts.live);
        gauge(&self.0.shares, "uploading", counts.uploading);
        gauge(&self.0.shares, "tombstone", counts.tombstones);
        gauge(&self.0.claims, "claimed", counts.claimed);
        gauge(&self.0.claims, "held", counts.held);
        self.0.stored.set(clamp(counts.stored_bytes));
        self.0.open_sockets.set(clamp(open_sockets as u64));
    }

    /// The text exposition of every metric.
    fn encode(&self) -> String {
        let mut text = String::new();
        // unwrap: writing into a String cannot fail, and every label value is ours.
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.0.registry)
            .expect("metrics encode");
        text
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The wire spelling of `code` (`too-large`): what the client was sent, so that a dashboard
/// and a client's error name the same thing.
pub fn reason(code: ErrorCode) -> String {
    match serde_json::to_value(code) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".to_owned(),
    }
}

/// The per-transfer series, indexed by [`Transport`] where both transports have one.
#[derive(Default)]
struct Hot {
    received: Counter,
    sent: [Counter; 2],
    uploads: Gauge,
    downloads: [Gauge; 2],
}

impl Hot {
    /// Creates every series at zero (a dashboard's rates then start from the first scrape,
    /// not the first transfer) and keeps handles on them.
    fn of(inner: &Inner) -> Hot {
        let by = |transport| ByTransport { transport };
        let (ws, http) = (by(Transport::Ws), by(Transport::Http));
        Hot {
            received: inner.received.get_or_create_owned(&ws),
            sent: [
                inner.sent.get_or_create_owned(&ws),
                inner.sent.get_or_create_owned(&http),
            ],
            uploads: inner.uploads.get_or_create_owned(&ws),
            downloads: [
                inner.downloads.get_or_create_owned(&ws),
                inner.downloads.get_or_create_owned(&http),
            ],
        }
    }
}

/// A transfer in progress: one more on its gauge until dropped, however it ends.
pub struct InProgress(Gauge);

impl InProgress {
    fn enter(gauge: Gauge) -> InProgress {
        gauge.inc();
        InProgress(gauge)
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The code an HTTP error response carries, put in its extensions where the response is
/// built ([`crate::http::ApiError`], [`crate::origin`]) and counted by [`count_refusals`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Refusal(pub(crate) ErrorCode);

/// Marks `res` as a refusal with `code`.
pub(crate) fn mark(res: &mut HttpResponse, code: ErrorCode) {
    res.extensions_mut().insert(Refusal(code));
}

/// Counts every HTTP refusal once, whichever handler or resource built it.
pub async fn count_refusals(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.metrics.clone());
    let res = next.call(req).await?;
    let refusal = res.response().extensions().get::<Refusal>().copied();
    if let (Some(metrics), Some(Refusal(code))) = (metrics, refusal) {
        metrics.refused(code);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_wire_spellings() {
        assert_eq!(reason(ErrorCode::TooLarge), "too-large");
        assert_eq!(reason(ErrorCode::WrongToken), "wrong-token");
    }

    #[test]
    fn names_carry_units_and_conventions() {
        let m = Metrics::new();
        m.received(10);
        m.sent(Transport::Http, 7);
        m.refused(ErrorCode::Busy);
        m.store_took(StoreOp::Put, Duration::from_millis(2));
        {
            let _up = m.upload();
            assert!(
                m.encode()
                    .contains("ferry_uploads_in_progress{transport=\"ws\"} 1\n")
            );
        }
        let text = m.encode();
        assert!(text.contains("ferry_upload_received_bytes_total{transport=\"ws\"} 10\n"));
        assert!(text.contains("ferry_download_sent_bytes_total{transport=\"http\"} 7\n"));
        assert!(text.contains("ferry_download_sent_bytes_total{transport=\"ws\"} 0\n"));
        assert!(text.contains("ferry_refusals_total{reason=\"busy\"} 1\n"));
        assert!(text.contains("ferry_uploads_in_progress{transport=\"ws\"} 0\n"));
        assert!(text.contains("# TYPE ferry_store_operation_duration_seconds histogram\n"));
        assert!(text.contains("ferry_store_operation_duration_seconds_count{op=\"put\"} 1\n"));
    }
}
