//! The record sets at one name, keyed by type and set identifier.

use crate::record::{RecordSet, RecordType};

/// A set's place at its name: type and set identifier.
pub type Slot = (RecordType, Option<String>);

/// The record sets at one name, sorted by [`Slot`]. A name almost always holds one or two sets,
/// so they are kept in a vector sized exactly: a `BTreeMap` would allocate room for eleven on
/// the first insert, which at 100,000 names costs hundreds of megabytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetsAtName(Vec<(Slot, RecordSet)>);

impl SetsAtName {
    fn position(&self, slot: &Slot) -> Result<usize, usize> {
        self.0.binary_search_by(|(s, _)| s.cmp(slot))
    }

    /// The set in `slot`.
    pub fn get(&self, slot: &Slot) -> Option<&RecordSet> {
        self.position(slot).ok().map(|i| &self.0[i].1)
    }

    /// Puts `set` in `slot`, returning what was there.
    pub fn insert(&mut self, slot: Slot, set: RecordSet) -> Option<RecordSet> {
        match self.position(&slot) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, set)),
            Err(i) => {
                self.0.reserve_exact(1);
                self.0.insert(i, (slot, set));
                None
            }
        }
    }

    /// Takes the set out of `slot`.
    pub fn remove(&mut self, slot: &Slot) -> Option<RecordSet> {
        let i = self.position(slot).ok()?;
        let (_, set) = self.0.remove(i);
        self.0.shrink_to_fit();
        Some(set)
    }

    /// Whether no set is left.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The sets, in slot order.
    pub fn values(&self) -> impl Iterator<Item = &RecordSet> {
        self.0.iter().map(|(_, s)| s)
    }

    /// The slots, in order.
    pub fn keys(&self) -> impl Iterator<Item = &Slot> {
        self.0.iter().map(|(k, _)| k)
    }

    /// Slots and sets, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Slot, &RecordSet)> {
        self.0.iter().map(|(k, s)| (k, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_sorted_map() {
        let set = |v: &str| RecordSet::new("a.example.com", RecordType::A, 60, [v.to_string()]);
        let mut m = SetsAtName::default();
        assert!(m.insert((RecordType::Txt, None), set("t")).is_none());
        assert!(m.insert((RecordType::A, Some("b".into())), set("b")).is_none());
        assert!(m.insert((RecordType::A, None), set("1")).is_none());
        assert_eq!(m.insert((RecordType::A, None), set("2")).unwrap().values, ["1"]);
        let order: Vec<&Slot> = m.keys().collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);
        assert_eq!(m.get(&(RecordType::A, None)).unwrap().values, ["2"]);
        assert_eq!(
            m.remove(&(RecordType::A, Some("b".into()))).unwrap().values,
            ["b"]
        );
        assert!(m.remove(&(RecordType::A, Some("b".into()))).is_none());
        assert_eq!(m.values().count(), 2);
        m.remove(&(RecordType::A, None));
        m.remove(&(RecordType::Txt, None));
        assert!(m.is_empty());
    }
}
