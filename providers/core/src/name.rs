//! [`DnsName`]: a DNS name as feddns stores it, shared rather than copied.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A DNS name as feddns stores it: lower-case, without the trailing dot (see
/// [`crate::normalize_name`]; this type does not normalize by itself). Cloning copies a pointer,
/// so one allocation serves a name wherever it is kept: in its record sets, as a map key, in
/// the ownership index. It compares, orders and hashes as its text, and borrows as `&str`, so
/// maps keyed by it are searched with a plain `&str`.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DnsName(Arc<str>);

impl DnsName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How many copies of this name share its allocation (for interning tables that drop
    /// names nothing else uses).
    pub fn shared_count(&self) -> usize {
        Arc::strong_count(&self.0)
    }
}

/// The interned names: one shared copy of each namespace and Service name of the federation.
static INTERNED: LazyLock<Mutex<HashSet<DnsName>>> = LazyLock::new(Mutex::default);

fn interned() -> MutexGuard<'static, HashSet<DnsName>> {
    INTERNED.lock().unwrap_or_else(PoisonError::into_inner)
}

impl DnsName {
    /// The one shared copy of `name` in this process: names that recur everywhere (namespaces,
    /// Service names, which every member has) cost one allocation however often they are kept.
    /// [`DnsName::forget_unused`] drops what nothing else holds any more.
    pub fn intern(name: &str) -> Self {
        let mut set = interned();
        if let Some(n) = set.get(name) {
            return n.clone();
        }
        let n = Self::from(name);
        set.insert(n.clone());
        n
    }

    /// Drops the interned names nothing but the table holds.
    pub fn forget_unused() {
        interned().retain(|n| n.shared_count() > 1);
    }

    /// Whether `name` is interned now (for tests).
    pub fn is_interned(name: &str) -> bool {
        interned().contains(name)
    }
}

impl Deref for DnsName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for DnsName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for DnsName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for DnsName {
    fn from(s: &str) -> Self {
        Self(Arc::from(s))
    }
}

impl From<String> for DnsName {
    fn from(s: String) -> Self {
        Self(Arc::from(s))
    }
}

impl From<&String> for DnsName {
    fn from(s: &String) -> Self {
        Self(Arc::from(s.as_str()))
    }
}

impl From<DnsName> for String {
    fn from(n: DnsName) -> Self {
        n.0.to_string()
    }
}

impl PartialEq<str> for DnsName {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for DnsName {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for DnsName {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<DnsName> for str {
    fn eq(&self, other: &DnsName) -> bool {
        *self == *other.0
    }
}

impl PartialEq<DnsName> for &str {
    fn eq(&self, other: &DnsName) -> bool {
        **self == *other.0
    }
}

impl PartialEq<DnsName> for String {
    fn eq(&self, other: &DnsName) -> bool {
        **self == *other.0
    }
}

impl Serialize for DnsName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DnsName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn clones_share_one_allocation_and_compare_as_text() {
        let a = DnsName::from("www.example.com");
        let b = a.clone();
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
        assert_eq!(a, "www.example.com");
        assert_eq!("www.example.com", a);
        assert_eq!(a, String::from("www.example.com"));
        let (x, y) = (DnsName::from("a.example.com"), DnsName::from("b.example.com"));
        assert!(x < y);
        let mut m = BTreeMap::new();
        m.insert(a, 1);
        assert_eq!(m.get("www.example.com"), Some(&1));
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"www.example.com\"");
    }

    #[test]
    fn interned_names_are_shared_and_dropped_when_unused() {
        let a = DnsName::intern("interned-test-name");
        let b = DnsName::intern("interned-test-name");
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
        DnsName::forget_unused();
        assert!(DnsName::is_interned("interned-test-name"), "still used");
        drop((a, b));
        DnsName::forget_unused();
        assert!(!DnsName::is_interned("interned-test-name"));
    }
}
