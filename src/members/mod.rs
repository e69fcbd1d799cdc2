//! Member clusters: where their state comes from (snapshot files now, Kubernetes API servers later).
