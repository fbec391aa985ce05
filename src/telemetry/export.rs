//! The OTLP/HTTP exporter: finished requests go into a bounded queue
//! without waiting (`submit`: a full queue drops them, counted), and one
//! task batches them — `max_export_batch_size` records, or what came
//! within `scheduled_delay` — and POSTs each batch as protobuf to the
//! collector, within `export_timeout`. A collector that is down or slow
//! costs requests nothing: a failed batch is dropped, counted, and warned
//! about at most once a minute. The task ends, after sending what is
//! queued, when the config snapshot holding the exporter is gone.
//!
//! Written here rather than taken from the OpenTelemetry SDK crates: the
//! gateway needs one span shape, one exporter and no global tracer; the
//! SDK brings its own runtime glue, a second HTTP client and a dozen
//! crates for that.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{Request, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use prost::Message;
use tokio::sync::{mpsc, oneshot};

use super::otlp;
use super::record::RequestRecord;
use crate::metrics::TelemetryCounters;
use crate::tls::client::CaFile;

/// The most of a collector's answer read (an `ExportTraceServiceResponse`
/// is a few bytes; an error page a few KiB).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A failing collector is warned about at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// `[telemetry]`'s export settings, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSettings {
    /// The OTLP/HTTP traces URL, used as written (`.../v1/traces`).
    pub endpoint: Uri,
    /// The resource's `service.name`.
    pub service_name: String,
    /// Extra headers on every export (an API key).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `ca_file`: the collector's CA for `https://`; `None`: the system's.
    pub ca_file: Option<CaFile>,
    pub max_queue_size: usize,
    pub max_export_batch_size: usize,
    pub scheduled_delay: Duration,
    pub export_timeout: Duration,
}

/// The exporter of one `[telemetry]` section. Cheap to clone; the task
/// runs once `start`ed and ends when the last clone is dropped.
#[derive(Clone)]
pub struct Exporter {
    inner: Arc<Inner>,
}

struct Inner {
    settings: ExportSettings,
    queue: mpsc::Sender<RequestRecord>,
    flushes: mpsc::Sender<oneshot::Sender<()>>,
    /// The task's ends of the channels, until `start` hands them to it.
    pending: Mutex<Option<Pending>>,
    /// Set by `start`; until then nothing is counted (nothing is sent).
    counters: OnceLock<TelemetryCounters>,
}

struct Pending {
    queue: mpsc::Receiver<RequestRecord>,
    flushes: mpsc::Receiver<oneshot::Sender<()>>,
    client: Poster,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("endpoint", &self.inner.settings.endpoint)
            .finish_non_exhaustive()
    }
}

impl Exporter {
    /// The exporter for `settings`, not yet running (the config compiler
    /// makes it, maybe outside any runtime); `Err` when the CA file
    /// cannot be used.
    pub fn new(settings: ExportSettings) -> Result<Exporter, String> {
        let https = settings.endpoint.scheme() == Some(&http::uri::Scheme::HTTPS);
        let tls = crate::tls::client::client_config(settings.ca_file.as_ref(), https)?;
        let (queue, queue_rx) = mpsc::channel(settings.max_queue_size);
        let (flushes, flushes_rx) = mpsc::channel(1);
        let client = Poster::new(&settings, &tls);
        Ok(Exporter {
            inner: Arc::new(Inner {
                settings,
                queue,
                flushes,
                pending: Mutex::new(Some(Pending {
                    queue: queue_rx,
                    flushes: flushes_rx,
                    client,
                })),
                counters: OnceLock::new(),
            }),
        })
    }

    pub fn settings(&self) -> &ExportSettings {
        &self.inner.settings
    }

    /// True when `other` is this very exporter (a reload kept it).
    pub fn is(&self, other: &Exporter) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Starts the export task on the current Tokio runtime (once; later
    /// calls do nothing), counting into `counters`.
    pub fn start(&self, counters: &TelemetryCounters) {
        let _ = self.inner.counters.set(counters.clone());
        let pending = self
            .inner
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(pending) = pending else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let task = Task {
                    settings: self.inner.settings.clone(),
                    counters: counters.clone(),
                    client: pending.client,
                    failures_unwarned: 0,
                    warned_at: None,
                };
                runtime.spawn(task.run(pending.queue, pending.flushes));
            }
            Err(_) => tracing::warn!("no async runtime: spans are not exported"),
        }
    }

    /// Queues a finished request's spans, never waiting: with the queue
    /// full they are dropped and counted.
    pub fn submit(&self, record: RequestRecord) {
        let spans = record.span_count();
        if let Err(refused) = self.inner.queue.try_send(record) {
            // Full, or the task is gone (it never is while this lives).
            drop(refused);
            if let Some(counters) = self.inner.counters.get() {
                counters.queue_full.inc_by(spans);
            }
        }
    }

    /// Sends what is queued now, waiting at most `export_timeout` (for a
    /// shutdown: what is queued is not lost to a collector that answers).
    pub async fn flush(&self) {
        let (done, finished) = oneshot::channel();
        if self.inner.flushes.try_send(done).is_err() {
            // Another flush is under way, or the task never started.
            return;
        }
        let _ = tokio::time::timeout(self.inner.settings.export_timeout, finished).await;
    }
}

/// The export task's state.
struct Task {
    settings: ExportSettings,
    counters: TelemetryCounters,
    client: Poster,
    /// Failed exports since the last warning.
    failures_unwarned: u64,
    warned_at: Option<Instant>,
}

impl Task {
    async fn run(
        mut self,
        mut queue: mpsc::Receiver<RequestRecord>,
        mut flushes: mpsc::Receiver<oneshot::Sender<()>>,
    ) {
        let size = self.settings.max_export_batch_size;
        let mut batch: Vec<RequestRecord> = Vec::with_capacity(size);
        // When the oldest record in `batch` is due to be sent.
        let mut due: Option<tokio::time::Instant> = None;
        loop {
            let deadline =
                due.unwrap_or_else(|| tokio::time::Instant::now() + self.settings.scheduled_delay);
            tokio::select! {
                received = queue.recv() => match received {
                    Some(record) => {
                        if batch.is_empty() {
                            due = Some(tokio::time::Instant::now() + self.settings.scheduled_delay);
                        }
                        batch.push(record);
                        if batch.len() >= size {
                            self.export(&mut batch).await;
                            due = None;
                        }
                    }
                    // The exporter is gone (a reload replaced it, or the
                    // gateway stopped): send what is left, then end.
                    None => {
                        self.export(&mut batch).await;
                        return;
                    }
                },
                () = tokio::time::sleep_until(deadline), if due.is_some() => {
                    self.export(&mut batch).await;
                    due = None;
                }
                Some(done) = flushes.recv() => {
                    while let Ok(record) = queue.try_recv() {
                        batch.push(record);
                        if batch.len() >= size {
                            self.export(&mut batch).await;
                        }
                    }
                    self.export(&mut batch).await;
                    due = None;
                    let _ = done.send(());
                }
            }
        }
    }

    /// POSTs `batch` (emptied) to the collector and counts the outcome.
    async fn export(&mut self, batch: &mut Vec<RequestRecord>) {
        if batch.is_empty() {
            return;
        }
        let spans: u64 = batch.iter().map(RequestRecord::span_count).sum();
        let body = otlp::encode(batch, &self.settings.service_name);
        batch.clear();
        match self.client.post(&self.settings, body).await {
            Ok(rejected) => {
                let rejected = rejected.min(spans);
                self.counters.exported.inc_by(spans - rejected);
                self.counters.rejected.inc_by(rejected);
            }
            Err(why) => {
                self.counters.export_failed.inc_by(spans);
                self.failures_unwarned += 1;
                if self.warned_at.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
                    tracing::warn!(
                        endpoint = %without_query(&self.settings.endpoint),
                        failed_exports = self.failures_unwarned,
                        "spans not exported (dropped): {why}"
                    );
                    self.warned_at = Some(Instant::now());
                    self.failures_unwarned = 0;
                }
            }
        }
    }
}

/// The HTTP client the batches are POSTed with (hyper-util's pooled
/// client over the gateway's rustls stack, as the OIDC client).
struct Poster {
    client: crate::tls::client::HttpsClient,
}

impl Poster {
    fn new(settings: &ExportSettings, tls: &rustls::ClientConfig) -> Poster {
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(crate::tls::client::http_connector(
                settings.export_timeout,
                tls,
            ));
        Poster { client }
    }

    /// POSTs one `ExportTraceServiceRequest`; the spans the collector
    /// says it rejected (a partial success), or why it failed.
    async fn post(&self, settings: &ExportSettings, body: Vec<u8>) -> Result<u64, String> {
        let mut request = Request::post(settings.endpoint.clone())
            .header(CONTENT_TYPE, "application/x-protobuf")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        for (name, value) in &settings.headers {
            request.headers_mut().append(name.clone(), value.clone());
        }
        let (status, answer) = crate::tls::client::exchange(
            &self.client,
            request,
            MAX_ANSWER_BYTES,
            settings.export_timeout,
        )
        .await?;
        if !status.is_success() {
            return Err(format!("the collector answered {status}"));
        }
        // An empty or unreadable answer is a full success.
        let rejected =
            otlp::opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse::decode(
                answer,
            )
            .ok()
            .and_then(|answer| answer.partial_success)
            .map_or(0, |partial| {
                u64::try_from(partial.rejected_spans).unwrap_or(0)
            });
        Ok(rejected)
    }
}

/// `uri` as logged: scheme, host, port and path; never a query or
/// userinfo, where some vendors put keys.
fn without_query(uri: &http::Uri) -> String {
    let port = uri.port_u16().map_or_else(String::new, |p| format!(":{p}"));
    format!(
        "{}://{}{port}{}",
        uri.scheme_str().unwrap_or("http"),
        uri.host().unwrap_or(""),
        uri.path()
    )
}
