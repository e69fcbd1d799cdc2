//! Member clusters: where their state comes from (snapshot files now, Kubernetes API servers later).

pub mod project;
pub mod snapshot;

use crate::model::MemberSnapshot;

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
    /// The member's state cannot be read; the last snapshot sent (if any) is stale.
    Failed {
        /// Member name.
        member: String,
        /// What went wrong, naming the source.
        error: String,
    },
}
