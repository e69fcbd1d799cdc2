//! Member clusters: where their state comes from (snapshot files or Kubernetes API servers), and
//! the [`Supervisor`] that runs one source per configured member and follows configuration
//! changes.
//!
//! Owns: every read of a member cluster (watchers, projections into the model, discovery of
//! members from a registry). May not: plan records or call a DNS provider; it only sends
//! [`MemberEvent`]s to the controller.

pub mod discovery;
pub mod gateway_api;
pub mod kube;
pub mod project;
pub mod snapshot;

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::mpsc::Sender;
use tokio::task::JoinHandle;
use tracing::info;

use crate::config::{MemberConfig, MemberSource};
use crate::federation::model::{MemberSnapshot, ObjectChange};
use crate::federation::selector::Selection;

/// What a member source reports to the federation.
#[derive(Debug, Clone)]
pub enum MemberEvent {
    /// The member's complete current state.
    Snapshot {
        /// Member name.
        member: String,
        /// Its state.
        snapshot: MemberSnapshot,
    },
    /// Single objects changed.
    Changes {
        /// Member name.
        member: String,
        /// What changed, in order.
        changes: Vec<ObjectChange>,
        /// After these changes the member's state is complete and current again (a re-list
        /// after it was unavailable).
        resynced: bool,
    },
    /// The member's state cannot be read; the last state sent (if any) is stale.
    Failed {
        /// Member name.
        member: String,
        /// What went wrong, naming the source.
        error: String,
    },
    /// A member was added to the configuration: it is pending until its first state.
    Added {
        /// Member name.
        member: String,
    },
    /// A member was removed from the configuration: its contributions go.
    Removed {
        /// Member name.
        member: String,
    },
}

impl MemberEvent {
    /// The member the event is about.
    pub fn member(&self) -> &str {
        match self {
            Self::Snapshot { member, .. }
            | Self::Changes { member, .. }
            | Self::Failed { member, .. }
            | Self::Added { member }
            | Self::Removed { member } => member,
        }
    }
}

/// Timing of member sources.
#[derive(Debug, Clone, Copy)]
pub struct SourceSettings {
    /// Snapshot file poll interval.
    pub file_poll: Duration,
    /// First delay before failed watchers restart.
    pub backoff: Duration,
    /// Longest delay between restarts.
    pub backoff_max: Duration,
}

/// A member's source, ready to run.
enum Source {
    File(std::path::PathBuf),
    Kube(::kube::Client),
    /// A discovered member whose registry entry cannot be used: reported as failed, never fatal.
    Broken(String),
}

impl SourceSettings {
    /// From a validated configuration's `controller` section.
    pub fn from_config(cfg: &crate::config::Config) -> Self {
        Self {
            file_poll: cfg.controller.file_poll.0,
            backoff: cfg.controller.watch_backoff.0,
            backoff_max: cfg.controller.watch_backoff_max.0,
        }
    }
}

struct Running {
    config: MemberConfig,
    selection: Selection,
    task: JoinHandle<()>,
}

/// What a [`Supervisor::reconcile`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Members started.
    pub added: Vec<String>,
    /// Members stopped and forgotten.
    pub removed: Vec<String>,
    /// Members whose source or Service selection changed: restarted.
    pub restarted: Vec<String>,
}

impl Reconciled {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.restarted.is_empty()
    }
}

/// Runs one source task per member and keeps the set in step with the configuration.
pub struct Supervisor {
    tx: Sender<MemberEvent>,
    settings: SourceSettings,
    running: BTreeMap<String, Running>,
}

impl Supervisor {
    /// A supervisor sending on `tx`; no member runs until [`Self::reconcile`].
    pub fn new(tx: Sender<MemberEvent>, settings: SourceSettings) -> Self {
        Self {
            tx,
            settings,
            running: BTreeMap::new(),
        }
    }

    /// Brings the running members in line with `members`: new ones start (announced with
    /// [`MemberEvent::Added`]), removed ones stop ([`MemberEvent::Removed`] after their task has
    /// ended, so nothing of theirs arrives later), changed ones restart. Clients of new and
    /// changed Kubernetes members are built first: if any cannot be (a missing kubeconfig, an
    /// unknown context), nothing changes and the errors, each naming its member, are returned.
    pub async fn reconcile(
        &mut self,
        members: &[MemberConfig],
        selection: &Selection,
    ) -> Result<Reconciled, Vec<String>> {
        let wanted: BTreeMap<&str, &MemberConfig> = members.iter().map(|m| (m.name.as_str(), m)).collect();
        let mut start = Vec::new();
        let mut errors = Vec::new();
        for m in members {
            let unchanged = self
                .running
                .get(&m.name)
                .is_some_and(|r| r.config == *m && r.selection == *selection);
            if unchanged {
                continue;
            }
            let source = match m.source() {
                MemberSource::File(path) => Source::File(path),
                source => match kube::connect(m).await {
                    Ok(c) => Source::Kube(c),
                    // A discovered member's problem is its own: reported on it, never blocking
                    // the others.
                    Err(e) if matches!(source, MemberSource::Discovered(_)) => Source::Broken(e.to_string()),
                    Err(e) => {
                        errors.push(e.to_string());
                        continue;
                    }
                },
            };
            start.push((m.clone(), source));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut done = Reconciled::default();
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|n| !wanted.contains_key(n.as_str()))
            .cloned()
            .collect();
        for name in gone {
            if let Some(r) = self.running.remove(&name) {
                stop(r.task).await;
            }
            info!(member = %name, "member removed; its records go");
            let _ = self.tx.send(MemberEvent::Removed { member: name.clone() }).await;
            done.removed.push(name);
        }
        for (config, source) in start {
            let name = config.name.clone();
            if let Some(r) = self.running.remove(&name) {
                stop(r.task).await;
                info!(member = %name, "member source or Service selection changed; restarting it");
                done.restarted.push(name.clone());
            } else {
                info!(member = %name, source = %kube::describe(&config), "member added");
                let _ = self.tx.send(MemberEvent::Added { member: name.clone() }).await;
                done.added.push(name.clone());
            }
            let task = self.spawn(&name, source, selection);
            self.running.insert(
                name,
                Running {
                    config,
                    selection: selection.clone(),
                    task,
                },
            );
        }
        Ok(done)
    }

    fn spawn(&self, name: &str, source: Source, selection: &Selection) -> JoinHandle<()> {
        let (tx, name) = (self.tx.clone(), name.to_string());
        match source {
            Source::File(path) => tokio::spawn(snapshot::watch_file(
                name,
                path,
                self.settings.file_poll,
                selection.clone(),
                tx,
            )),
            Source::Broken(error) => tokio::spawn(async move {
                tracing::warn!(member = %name, %error, "discovered member cannot be watched");
                let _ = tx.send(MemberEvent::Failed { member: name, error }).await;
                std::future::pending::<()>().await;
            }),
            Source::Kube(client) => {
                let settings = kube::WatchSettings {
                    selection: selection.clone(),
                    backoff: self.settings.backoff,
                    backoff_max: self.settings.backoff_max,
                };
                tokio::spawn(kube::watch_member(name, client, settings, tx))
            }
        }
    }

    /// Stops every member task.
    pub async fn shutdown(&mut self) {
        for (_, r) in std::mem::take(&mut self.running) {
            stop(r.task).await;
        }
    }
}

async fn stop(task: JoinHandle<()>) {
    task.abort();
    let _ = task.await;
}
