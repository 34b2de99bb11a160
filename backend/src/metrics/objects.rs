//! Object-store latency: an [`ObjectStore`] that times every call of the one it wraps, so
//! that `BlobStore` stays as it is and every backend (local, S3) is measured alike.
use std::{
    fmt,
    ops::Range,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream::BoxStream};
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result, path::Path,
};

use super::{Metrics, StoreOp};

/// `inner`, timed into `metrics`.
pub(crate) struct TimedObjects {
    inner: Arc<dyn ObjectStore>,
    metrics: Metrics,
}

impl TimedObjects {
    /// Wraps `inner`.
    pub(crate) fn wrap(inner: Arc<dyn ObjectStore>, metrics: Metrics) -> Arc<dyn ObjectStore> {
        Arc::new(TimedObjects { inner, metrics })
    }

    async fn timed<T>(&self, op: StoreOp, call: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = call.await;
        self.metrics.store_took(op, started.elapsed());
        out
    }
}

impl fmt::Display for TimedObjects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timed({})", self.inner)
    }
}

impl fmt::Debug for TimedObjects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timed({:?})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for TimedObjects {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let put = self.inner.put_opts(location, payload, opts);
        self.timed(StoreOp::Put, put).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        // Ferry writes every object with one PUT; multipart is passed through untimed.
        self.inner.put_multipart_opts(location, opts).await
    }

    /// Timed to the answer (headers): a streamed body is then read at the client's pace.
    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let get = self.inner.get_opts(location, options);
        self.timed(StoreOp::Get, get).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let get = self.inner.get_ranges(location, ranges);
        self.timed(StoreOp::Get, get).await
    }

    /// Each deletion timed from the previous one (or the start) to its result.
    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let deleted = self.inner.delete_stream(locations);
        Timed::new(deleted, self.metrics.clone(), StoreOp::Delete, Each::Item).boxed()
    }

    /// The whole listing timed, from the first poll to its end.
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let listed = self.inner.list(prefix);
        Timed::new(listed, self.metrics.clone(), StoreOp::List, Each::Stream).boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let list = self.inner.list_with_delimiter(prefix);
        self.timed(StoreOp::List, list).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

/// What one observation of a [`Timed`] stream covers.
#[derive(Clone, Copy)]
enum Each {
    /// Every item: the time since the previous one.
    Item,
    /// The whole stream, observed once at its end.
    Stream,
}

/// A stream whose items or whole run are timed.
struct Timed<S> {
    inner: S,
    metrics: Metrics,
    op: StoreOp,
    each: Each,
    since: Option<Instant>,
}

impl<S> Timed<S> {
    fn new(inner: S, metrics: Metrics, op: StoreOp, each: Each) -> Timed<S> {
        Timed {
            inner,
            metrics,
            op,
            each,
            since: None,
        }
    }
}

impl<S: Stream + Unpin> Stream for Timed<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let since = *self.since.get_or_insert_with(Instant::now);
        let polled = self.inner.poll_next_unpin(cx);
        let Poll::Ready(item) = &polled else {
            return polled;
        };
        match (self.each, item) {
            (Each::Item, Some(_)) => {
                self.metrics.store_took(self.op, since.elapsed());
                self.since = Some(Instant::now());
            }
            (Each::Stream, None) => self.metrics.store_took(self.op, since.elapsed()),
            _ => {}
        }
        polled
    }
}
