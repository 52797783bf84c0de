//! A bounded, process-wide map from text to a value derived from it by a pure function (a parsed
//! GraphQL document, a parsed URL): the value is computed once per distinct text. The map is a
//! `quick_cache` of at most its number of entries (a full one evicts the texts least likely to
//! come again, not everything), and texts longer than its limit are not kept, so a stream of
//! distinct texts cannot grow memory.

use std::sync::OnceLock;

use quick_cache::sync::Cache;

/// Values by the text they were made from.
pub struct Memo<V> {
    /// Made at first use, so a `Memo` can be a `static`.
    map: OnceLock<Cache<String, V>>,
    entries: usize,
    max_text: usize,
}

impl<V: Clone> Memo<V> {
    /// At most `entries` values, of texts of at most `max_text` bytes.
    pub const fn new(entries: usize, max_text: usize) -> Self {
        Memo {
            map: OnceLock::new(),
            entries,
            max_text,
        }
    }

    fn map(&self) -> &Cache<String, V> {
        self.map.get_or_init(|| Cache::new(self.entries))
    }

    /// The value for `text`, made by `make` the first time; `None` (and nothing kept) when
    /// `make` gives none.
    pub fn get(&self, text: &str, make: impl FnOnce(&str) -> Option<V>) -> Option<V> {
        let map = self.map();
        if let Some(value) = map.get(text) {
            return Some(value);
        }
        let value = make(text)?;
        if text.len() <= self.max_text {
            map.insert(text.to_owned(), value.clone());
        }
        Some(value)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.get().map_or(0, Cache::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_kept_when_short_and_bounded_when_full() {
        let memo: Memo<usize> = Memo::new(2, 5);
        let made = std::cell::Cell::new(0);
        let len = |t: &str| {
            made.set(made.get() + 1);
            (!t.is_empty()).then_some(t.len())
        };
        assert_eq!(memo.get("abc", len), Some(3));
        assert_eq!(memo.get("abc", len), Some(3));
        assert_eq!(made.get(), 1, "made once");
        assert_eq!(memo.get("", len), None);
        assert_eq!(memo.len(), 1, "nothing kept for no value");
        assert_eq!(memo.get("abcdefgh", len), Some(8));
        assert_eq!(memo.len(), 1, "a text over the limit is not kept");
        memo.get("x", len);
        assert_eq!(memo.len(), 2);
        for text in ["y", "z", "w", "v"] {
            memo.get(text, len);
            assert!(memo.len() <= 2, "a full memo stays at its size");
        }
    }

    #[test]
    fn a_large_memo_keeps_its_number_of_entries() {
        let memo: Memo<usize> = Memo::new(256, 64);
        for i in 0..10_000 {
            memo.get(&i.to_string(), |t| Some(t.len()));
        }
        let kept = memo.len();
        assert!((200..=256).contains(&kept), "{kept} of 256 kept");
    }
}
