//! The record sets at one name, keyed by type and set identifier.

use std::sync::Arc;

use crate::record::{RecordSet, RecordType};

/// The record sets at one name, sorted by type and set identifier. A name almost always holds
/// one or two sets, so they are kept in a vector sized exactly: a `BTreeMap` would allocate room
/// for eleven on the first insert, which at 100,000 names costs hundreds of megabytes. The sets
/// are shared (`Arc`): a set the controller planned, the provider stored and the cache recorded
/// is one allocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetsAtName(Vec<Arc<RecordSet>>);

fn slot(set: &RecordSet) -> (&RecordType, Option<&str>) {
    (&set.rtype, set.set_id())
}

impl SetsAtName {
    fn position(&self, rtype: &RecordType, set_id: Option<&str>) -> Result<usize, usize> {
        self.0.binary_search_by(|s| slot(s).cmp(&(rtype, set_id)))
    }

    /// The set of type `rtype` with identifier `set_id`.
    pub fn get(&self, rtype: &RecordType, set_id: Option<&str>) -> Option<&Arc<RecordSet>> {
        self.position(rtype, set_id).ok().map(|i| &self.0[i])
    }

    /// Puts `set` in its place (type and set identifier), returning what was there.
    pub fn insert(&mut self, set: Arc<RecordSet>) -> Option<Arc<RecordSet>> {
        let (rtype, set_id) = slot(&set);
        match self.position(rtype, set_id) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i], set)),
            Err(i) => {
                self.0.reserve_exact(1);
                self.0.insert(i, set);
                None
            }
        }
    }

    /// Takes the set of type `rtype` with identifier `set_id` out.
    pub fn remove(&mut self, rtype: &RecordType, set_id: Option<&str>) -> Option<Arc<RecordSet>> {
        let i = self.position(rtype, set_id).ok()?;
        let set = self.0.remove(i);
        self.0.shrink_to_fit();
        Some(set)
    }

    /// Whether no set is left.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The sets, in order of type and set identifier.
    pub fn values(&self) -> impl Iterator<Item = &RecordSet> {
        self.0.iter().map(|s| &**s)
    }

    /// The shared sets, in order.
    pub fn shared(&self) -> impl Iterator<Item = &Arc<RecordSet>> {
        self.0.iter()
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
    }
}
