//! What the embedded server answers from: the zone feddns writes (a [`ZoneState`]), the SOA
//! serial, and which names have names below them. One lock guards all of it, so a query sees a
//! batch whole or not at all.

use std::collections::{BTreeSet, HashMap};

use feddns_provider::{Change, ProviderError, ZoneState};

/// The zone as served.
#[derive(Debug)]
pub(crate) struct Served {
    zone: ZoneState,
    serial: u32,
    /// For every name strictly between a name of the zone and the apex, how many names of the
    /// zone lie below it. A name here without sets of its own is an empty non-terminal: it
    /// exists (NODATA), though the zone holds nothing at it.
    below: HashMap<Box<str>, u32>,
}

impl Served {
    /// An empty zone with the SOA serial `serial`.
    pub(crate) fn new(zone: ZoneState, serial: u32) -> Self {
        Self {
            zone,
            serial,
            below: HashMap::new(),
        }
    }

    /// The zone feddns writes (without the apex SOA and NS, which the server keeps).
    pub(crate) fn zone(&self) -> &ZoneState {
        &self.zone
    }

    /// The SOA serial served.
    pub(crate) fn serial(&self) -> u32 {
        self.serial
    }

    /// Applies a batch (all of it or, on error, nothing) and bumps the serial once. Returns how
    /// many names it touched.
    pub(crate) fn apply(&mut self, changes: &[Change]) -> Result<usize, ProviderError> {
        let names: BTreeSet<&str> = changes.iter().map(|c| c.subject().name.as_str()).collect();
        let before: Vec<(&str, bool)> = names.iter().map(|n| (*n, self.holds(n))).collect();
        let touched = self.zone.apply(changes)?;
        for (name, held) in before {
            match (held, self.holds(name)) {
                (false, true) => self.count_below(name, true),
                (true, false) => self.count_below(name, false),
                _ => {}
            }
        }
        self.serial = self.serial.wrapping_add(1);
        Ok(touched.len())
    }

    /// Whether the zone holds a set at `name`.
    pub(crate) fn holds(&self, name: &str) -> bool {
        self.zone.sets_at(name).next().is_some()
    }

    /// Whether `name` holds a set or has a name of the zone below it (the apex always exists,
    /// but is not asked here).
    pub(crate) fn exists(&self, name: &str) -> bool {
        self.holds(name) || self.below.contains_key(name)
    }

    /// Counts `name` in (or out of) every name between it and the apex.
    fn count_below(&mut self, name: &str, added: bool) {
        for up in ancestors(name, self.zone.zone()) {
            if added {
                *self.below.entry(up.into()).or_default() += 1;
            } else if let Some(n) = self.below.get_mut(up) {
                *n -= 1;
                if *n == 0 {
                    self.below.remove(up);
                }
            }
        }
    }
}

/// The names strictly between `name` and `apex`, nearest first: the suffixes of `name` after
/// each label boundary (a dot not escaped by a backslash) longer than `apex`. `name` must be
/// `apex` or below it, in presentation form.
pub(crate) fn ancestors<'n>(name: &'n str, apex: &str) -> impl Iterator<Item = &'n str> {
    parents(name).take_while(move |p| p.len() > apex.len())
}

/// Every parent of `name` in presentation form, nearest first, down to the last label.
pub(crate) fn parents(name: &str) -> impl Iterator<Item = &str> {
    let bytes = name.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'.' => {
                    i += 1;
                    return Some(&name[i..]);
                }
                _ => i += 1,
            }
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use feddns_provider::{Capabilities, Limits, RecordSet, RecordType};

    use super::*;

    #[test]
    fn ancestors_stop_above_the_apex_and_respect_escaped_dots() {
        let up: Vec<&str> = ancestors("_feddns.a.b.example.com", "example.com").collect();
        assert_eq!(up, ["a.b.example.com", "b.example.com"]);
        assert_eq!(ancestors("example.com", "example.com").count(), 0);
        assert_eq!(ancestors("a.example.com", "example.com").count(), 0);
        let up: Vec<&str> = ancestors("a\\.b.c\\\\.example.com", "example.com").collect();
        assert_eq!(up, ["c\\\\.example.com"]);
        let all: Vec<&str> = parents("a.example.com").collect();
        assert_eq!(all, ["example.com", "com"]);
    }

    fn a(name: &str) -> Change {
        Change::create(RecordSet::new(name, RecordType::A, 60, ["192.0.2.1".to_string()]))
    }

    #[test]
    fn names_below_are_counted_in_and_out_with_the_batches() {
        let zone = ZoneState::new("example.com", Capabilities::default(), Limits::default());
        let mut s = Served::new(zone, 1);
        s.apply(&[a("x.y.example.com"), a("z.y.example.com"), a("q.x.y.example.com")])
            .unwrap();
        assert_eq!(s.serial(), 2);
        assert!(s.exists("y.example.com") && !s.holds("y.example.com"));
        assert!(s.exists("x.y.example.com") && s.holds("x.y.example.com"));
        assert!(!s.exists("q.example.com") && !s.exists("example.org"));
        let delete = |c: Change| match c {
            Change::Create { new } => Change::delete(new),
            other => other,
        };
        s.apply(&[delete(a("x.y.example.com")), delete(a("z.y.example.com"))])
            .unwrap();
        assert!(s.exists("x.y.example.com") && !s.holds("x.y.example.com"));
        assert!(s.exists("y.example.com"));
        // A batch that fails changes neither the zone nor the counts nor the serial.
        assert!(
            s.apply(&[delete(a("q.x.y.example.com")), a("q.x.y.example.com")])
                .is_err()
        );
        assert_eq!(s.serial(), 3);
        s.apply(&[delete(a("q.x.y.example.com"))]).unwrap();
        assert!(!s.exists("x.y.example.com") && !s.exists("y.example.com"));
        assert!(s.below.is_empty(), "{:?}", s.below);
    }
}
