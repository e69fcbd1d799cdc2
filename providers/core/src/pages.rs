//! The one pagination guard: a listing that follows page tokens stops with an error, instead of
//! looping, when the server repeats a position or never ends.

use std::collections::HashSet;
use std::hash::Hash;

/// Pages a listing may take before it is given up (a server that never ends).
pub const MAX_PAGES: usize = 10_000;

/// Why a listing was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// The server named a next position it had named before (it ignores the position).
    #[error("the server repeated a page position")]
    Repeated,
    /// The listing did not end after [`MAX_PAGES`] pages.
    #[error("the listing did not end after {MAX_PAGES} pages")]
    Endless,
}

/// A listing given up, in words that name what was listed; the [`PageError`] is its source.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ListingStopped {
    message: String,
    #[source]
    cause: PageError,
}

impl ListingStopped {
    /// Why the listing was given up.
    pub fn cause(&self) -> PageError {
        self.cause
    }
}

impl From<ListingStopped> for crate::ProviderError {
    fn from(e: ListingStopped) -> Self {
        Self::other_from(e.message.clone(), e)
    }
}

/// Remembers the positions (page tokens, start keys) a listing has been at.
#[derive(Debug)]
pub struct PageGuard<K> {
    seen: HashSet<K>,
    pages: usize,
}

impl<K: Hash + Eq> Default for PageGuard<K> {
    fn default() -> Self {
        Self {
            seen: HashSet::new(),
            pages: 0,
        }
    }
}

impl<K: Hash + Eq> PageGuard<K> {
    /// A guard for a listing that starts without a position.
    pub fn new() -> Self {
        Self::default()
    }

    /// A guard for a listing that starts at `start` (which a server must not name again).
    pub fn starting_at(start: K) -> Self {
        let mut g = Self::new();
        g.seen.insert(start);
        g
    }

    /// Records that the page just read names `next` as the next position: an error when the
    /// listing was there before or has taken too many pages.
    pub fn advance(&mut self, next: K) -> Result<(), PageError> {
        self.pages += 1;
        if !self.seen.insert(next) {
            return Err(PageError::Repeated);
        }
        if self.pages >= MAX_PAGES {
            return Err(PageError::Endless);
        }
        Ok(())
    }

    /// [`Self::advance`] with the error worded for `listing` (what is listed, e.g.
    /// `rrsets.list of zone z`): `{listing} {repeated()}` or `{listing} did not end after 10000
    /// pages`.
    pub fn check(
        &mut self,
        next: K,
        listing: &str,
        repeated: impl FnOnce() -> String,
    ) -> Result<(), ListingStopped> {
        self.advance(next).map_err(|cause| ListingStopped {
            message: match cause {
                PageError::Repeated => format!("{listing} {}", repeated()),
                PageError::Endless => format!("{listing} did not end after {MAX_PAGES} pages"),
            },
            cause,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_position_or_an_endless_listing_is_an_error() {
        let mut g = PageGuard::starting_at("a");
        assert_eq!(g.advance("b"), Ok(()));
        assert_eq!(g.advance("a"), Err(PageError::Repeated));
        let mut g = PageGuard::new();
        for i in 1..MAX_PAGES {
            assert_eq!(g.advance(i), Ok(()));
        }
        assert_eq!(g.advance(MAX_PAGES), Err(PageError::Endless));
        let mut g = PageGuard::starting_at(1);
        let e = g
            .check(1, "rrsets.list of zone z", || "repeated the page token 1".into())
            .unwrap_err();
        assert_eq!(e.to_string(), "rrsets.list of zone z repeated the page token 1");
        assert_eq!(e.cause(), PageError::Repeated);
        let e = crate::ProviderError::from(e);
        assert_eq!(
            e.to_string(),
            "provider error: rrsets.list of zone z repeated the page token 1"
        );
        let source = std::error::Error::source(&e).expect("the listing error is kept as the source");
        assert_eq!(
            source.to_string(),
            "rrsets.list of zone z repeated the page token 1"
        );
    }
}
