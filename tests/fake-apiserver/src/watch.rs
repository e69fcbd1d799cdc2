//! The streaming body of a watch request: one JSON event per line.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::time::Instant;

use crate::Shared;
use crate::http::RespBody;
use crate::selector::Filter;
use crate::store::{Event, EventType, Initial, Msg, Obj, OpenedWatch, ResourceType};
use crate::util::ApiError;

/// Frames are flushed once they reach this size.
const FRAME_BYTES: usize = 64 * 1024;

/// Decrements the open watch counter when the stream is dropped (ended or connection closed).
#[derive(Debug)]
struct WatchGuard(Arc<Shared>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.open_watches.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Parameters of one watch request.
#[derive(Debug)]
pub(crate) struct WatchOptions {
    pub(crate) rt: Arc<ResourceType>,
    pub(crate) filter: Filter,
    pub(crate) meta_only: bool,
    pub(crate) bookmarks: bool,
    pub(crate) initial_events_end: bool,
    pub(crate) timeout: Option<Duration>,
}

#[derive(Debug)]
struct WatchStream {
    opts: WatchOptions,
    initial: Initial,
    rx: Option<broadcast::Receiver<Msg>>,
    /// The resourceVersion this stream has delivered (or skipped) everything up to.
    last_rv: u64,
    next_bookmark: Instant,
    deadline: Option<Instant>,
    /// Sent once, then the stream ends (410 at start).
    final_error: Option<Bytes>,
    done: bool,
    guard: WatchGuard,
}

enum Wake {
    Msg(Result<Msg, RecvError>),
    Bookmark,
    Deadline,
}

fn bookmark_interval(shared: &Shared) -> Duration {
    Duration::from_millis(shared.bookmark_ms.load(Ordering::Relaxed).max(1))
}

/// A streaming body for an opened watch.
pub(crate) fn watch_body(shared: Arc<Shared>, opts: WatchOptions, opened: OpenedWatch) -> RespBody {
    let now = Instant::now();
    let ws = WatchStream {
        next_bookmark: now + bookmark_interval(&shared),
        deadline: opts.timeout.map(|t| now + t),
        opts,
        initial: opened.initial,
        rx: Some(opened.rx),
        last_rv: opened.rv,
        final_error: None,
        done: false,
        guard: new_guard(shared),
    };
    into_body(ws)
}

/// A body with a single 410 ERROR event (watch from a compacted resourceVersion).
pub(crate) fn expired_body(shared: Arc<Shared>, opts: WatchOptions, requested: u64, oldest: u64) -> RespBody {
    let ws = WatchStream {
        opts,
        initial: Initial::Objects(Default::default()),
        rx: None,
        last_rv: requested,
        next_bookmark: Instant::now(),
        deadline: None,
        final_error: Some(error_line(&ApiError::expired(requested, oldest))),
        done: false,
        guard: new_guard(shared),
    };
    into_body(ws)
}

fn new_guard(shared: Arc<Shared>) -> WatchGuard {
    shared.open_watches.fetch_add(1, Ordering::SeqCst);
    WatchGuard(shared)
}

fn into_body(ws: WatchStream) -> RespBody {
    let frames = stream::unfold(ws, |mut ws| async move {
        let chunk = ws.next_chunk().await?;
        Some((Ok::<_, Infallible>(Frame::data(chunk)), ws))
    });
    StreamBody::new(frames).boxed_unsync()
}

fn error_line(err: &ApiError) -> Bytes {
    let mut line =
        serde_json::to_vec(&json!({"type": "ERROR", "object": err.to_value()})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn push_line(buf: &mut Vec<u8>, etype: &str, obj: &[u8]) {
    buf.extend_from_slice(b"{\"type\":\"");
    buf.extend_from_slice(etype.as_bytes());
    buf.extend_from_slice(b"\",\"object\":");
    buf.extend_from_slice(obj);
    buf.extend_from_slice(b"}\n");
}

impl WatchStream {
    fn bookmark_line(&self, initial_end: bool) -> Bytes {
        let (api_version, kind) = if self.opts.meta_only {
            ("meta.k8s.io/v1", "PartialObjectMetadata")
        } else {
            (self.opts.rt.api_version.as_str(), self.opts.rt.kind.as_str())
        };
        let mut metadata = json!({"resourceVersion": self.last_rv.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let event = json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version, "metadata": metadata}});
        let mut line = serde_json::to_vec(&event).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }

    /// Appends the event as this watch sees it (selector transitions become ADDED/DELETED).
    fn push_event(&self, buf: &mut Vec<u8>, ev: &Event) {
        if ev.type_id != self.opts.rt.id || !self.opts.filter.namespace_matches(&ev.obj.namespace) {
            return;
        }
        let filter = &self.opts.filter;
        let now = filter.matches(&ev.obj);
        let etype = match ev.etype {
            EventType::Added => now.then_some("ADDED"),
            EventType::Deleted => now.then_some("DELETED"),
            EventType::Modified => {
                let before = ev.prev.as_deref().is_some_and(|p: &Obj| filter.matches(p));
                match (before, now) {
                    (true, true) => Some("MODIFIED"),
                    (false, true) => Some("ADDED"),
                    (true, false) => Some("DELETED"),
                    (false, false) => None,
                }
            }
        };
        if let Some(etype) = etype {
            push_line(buf, etype, ev.obj.body(self.opts.meta_only));
        }
    }

    /// The next chunk of the body, or `None` when the stream ends.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        if let Some(err) = self.final_error.take() {
            self.done = true;
            return Some(err);
        }
        let mut buf = Vec::new();
        while buf.len() < FRAME_BYTES && !self.initial.is_empty() {
            match &mut self.initial {
                Initial::Objects(objs) => {
                    if let Some(obj) = objs.pop_front() {
                        push_line(&mut buf, "ADDED", obj.body(self.opts.meta_only));
                    }
                }
                Initial::Events(events) => {
                    if let Some(ev) = events.pop_front() {
                        self.push_event(&mut buf, &ev);
                    }
                }
            }
        }
        if !buf.is_empty() {
            return Some(Bytes::from(buf));
        }
        if self.opts.initial_events_end {
            self.opts.initial_events_end = false;
            return Some(self.bookmark_line(true));
        }
        loop {
            let rx = self.rx.as_mut()?;
            let bookmarks = self.opts.bookmarks;
            let next_bookmark = self.next_bookmark;
            let deadline = self.deadline;
            let wake = tokio::select! {
                biased;
                msg = rx.recv() => Wake::Msg(msg),
                () = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => Wake::Deadline,
                () = async {
                    if bookmarks {
                        tokio::time::sleep_until(next_bookmark).await;
                    } else {
                        std::future::pending::<()>().await;
                    }
                } => Wake::Bookmark,
            };
            match wake {
                Wake::Msg(Ok(Msg::Event(ev))) => {
                    self.last_rv = self.last_rv.max(ev.rv);
                    self.push_event(&mut buf, &ev);
                    // Batch whatever else is already queued.
                    while buf.len() < FRAME_BYTES {
                        let Some(rx) = self.rx.as_mut() else { break };
                        match rx.try_recv() {
                            Ok(Msg::Event(ev)) => {
                                self.last_rv = self.last_rv.max(ev.rv);
                                self.push_event(&mut buf, &ev);
                            }
                            Ok(Msg::Expire { oldest }) => {
                                self.final_error = Some(error_line(&ApiError::expired(self.last_rv, oldest)));
                                break;
                            }
                            Err(TryRecvError::Lagged(_)) => {
                                self.final_error = Some(self.lagged_error());
                                break;
                            }
                            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                        }
                    }
                    if !buf.is_empty() {
                        return Some(Bytes::from(buf));
                    }
                    if let Some(err) = self.final_error.take() {
                        self.done = true;
                        return Some(err);
                    }
                }
                Wake::Msg(Ok(Msg::Expire { oldest })) => {
                    self.done = true;
                    return Some(error_line(&ApiError::expired(self.last_rv, oldest)));
                }
                Wake::Msg(Err(RecvError::Lagged(_))) => {
                    self.done = true;
                    return Some(self.lagged_error());
                }
                Wake::Msg(Err(RecvError::Closed)) | Wake::Deadline => {
                    self.done = true;
                    return None;
                }
                Wake::Bookmark => {
                    self.next_bookmark = Instant::now() + bookmark_interval(&self.guard.0);
                    return Some(self.bookmark_line(false));
                }
            }
        }
    }

    fn lagged_error(&self) -> Bytes {
        let oldest = self.guard.0.store().compacted().max(self.last_rv + 1);
        error_line(&ApiError::expired(self.last_rv, oldest))
    }
}
