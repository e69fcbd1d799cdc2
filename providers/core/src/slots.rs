//! The record sets at one name, keyed by type and set identifier.

use std::sync::Arc;

use crate::record::{RecordSet, RecordType};

/// The record sets at one name, sorted by type and set identifier. A name almost always holds
/// one set (or two), so one is kept inline and more in a slice sized exactly: a `BTreeMap` would
/// allocate room for eleven on the first insert, and even a vector costs an allocation per name,
/// which at 100,000 names adds up. The sets are shared (`Arc`): a set the controller planned, the
/// provider stored and the cache recorded is one allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetsAtName(Sets);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Sets {
    One(Arc<RecordSet>),
    Many(Box<[Arc<RecordSet>]>),
}

impl Default for SetsAtName {
    fn default() -> Self {
        Self(Sets::Many(Box::default()))
    }
}

fn slot(set: &RecordSet) -> (&RecordType, Option<&str>) {
    (&set.rtype, set.set_id())
}

impl SetsAtName {
    fn as_slice(&self) -> &[Arc<RecordSet>] {
        match &self.0 {
            Sets::One(set) => std::slice::from_ref(set),
            Sets::Many(sets) => sets,
        }
    }

    fn from_vec(mut sets: Vec<Arc<RecordSet>>) -> Self {
        if sets.len() == 1
            && let Some(one) = sets.pop()
        {
            return Self(Sets::One(one));
        }
        Self(Sets::Many(sets.into_boxed_slice()))
    }

    fn position(&self, rtype: &RecordType, set_id: Option<&str>) -> Result<usize, usize> {
        self.as_slice()
            .binary_search_by(|s| slot(s).cmp(&(rtype, set_id)))
    }

    /// The set of type `rtype` with identifier `set_id`.
    pub fn get(&self, rtype: &RecordType, set_id: Option<&str>) -> Option<&Arc<RecordSet>> {
        self.position(rtype, set_id).ok().map(|i| &self.as_slice()[i])
    }

    /// Puts `set` in its place (type and set identifier), returning what was there.
    pub fn insert(&mut self, set: Arc<RecordSet>) -> Option<Arc<RecordSet>> {
        let (rtype, set_id) = slot(&set);
        match self.position(rtype, set_id) {
            Ok(i) => {
                let mut sets = self.as_slice().to_vec();
                let old = std::mem::replace(&mut sets[i], set);
                *self = Self::from_vec(sets);
                Some(old)
            }
            Err(i) => {
                let mut sets = Vec::with_capacity(self.as_slice().len() + 1);
                sets.extend_from_slice(self.as_slice());
                sets.insert(i, set);
                *self = Self::from_vec(sets);
                None
            }
        }
    }

    /// Takes the set of type `rtype` with identifier `set_id` out.
    pub fn remove(&mut self, rtype: &RecordType, set_id: Option<&str>) -> Option<Arc<RecordSet>> {
        let i = self.position(rtype, set_id).ok()?;
        let mut sets = self.as_slice().to_vec();
        let set = sets.remove(i);
        *self = Self::from_vec(sets);
        Some(set)
    }

    /// Whether no set is left.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// The sets, in order of type and set identifier.
    pub fn values(&self) -> impl Iterator<Item = &RecordSet> {
        self.as_slice().iter().map(|s| &**s)
    }

    /// The shared sets, in order.
    pub fn shared(&self) -> impl Iterator<Item = &Arc<RecordSet>> {
        self.as_slice().iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_sorted_map() {
        let set = |rtype: RecordType, v: &str| {
            Arc::new(RecordSet::new("a.example.com", rtype, 60, [v.to_string()]))
        };
        let weighted = |v: &str| {
            let s = RecordSet::new("a.example.com", RecordType::A, 60, [v.to_string()]);
            Arc::new(s.with_routing(crate::Routing::Weighted {
                set_id: "b".into(),
                weight: 1,
            }))
        };
        let mut m = SetsAtName::default();
        assert!(m.insert(set(RecordType::Txt, "t")).is_none());
        assert!(m.insert(weighted("b")).is_none());
        assert!(m.insert(set(RecordType::A, "1")).is_none());
        assert_eq!(m.insert(set(RecordType::A, "2")).unwrap().values, ["1"]);
        let order: Vec<(RecordType, Option<String>)> = m
            .values()
            .map(|s| (s.rtype.clone(), s.set_id().map(str::to_string)))
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);
        assert_eq!(m.get(&RecordType::A, None).unwrap().values, ["2"]);
        assert_eq!(m.remove(&RecordType::A, Some("b")).unwrap().values, ["b"]);
        assert!(m.remove(&RecordType::A, Some("b")).is_none());
        assert_eq!(m.values().count(), 2);
        m.remove(&RecordType::A, None);
        m.remove(&RecordType::Txt, None);
        assert!(m.is_empty());
        // One set is kept without an allocation of its own.
        assert_eq!(std::mem::size_of::<SetsAtName>(), 16);
    }
}
