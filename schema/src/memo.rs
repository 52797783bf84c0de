//! A bounded, process-wide map from text to a value derived from it by a pure function (a parsed
//! GraphQL document, a parsed URL): the value is computed once per distinct text. A full map
//! starts over, and texts longer than its limit are not kept, so a stream of distinct texts
//! cannot grow memory.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

/// Values by the text they were made from.
pub struct Memo<V> {
    map: OnceLock<RwLock<HashMap<String, V>>>,
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

    /// The value for `text`, made by `make` the first time; `None` (and nothing kept) when
    /// `make` gives none.
    pub fn get(&self, text: &str, make: impl FnOnce(&str) -> Option<V>) -> Option<V> {
        let map = self.map.get_or_init(Default::default);
        if let Some(value) = map.read().ok()?.get(text) {
            return Some(value.clone());
        }
        let value = make(text)?;
        if text.len() <= self.max_text {
            if let Ok(mut map) = map.write() {
                if map.len() >= self.entries {
                    map.clear();
                }
                map.insert(text.to_owned(), value.clone());
            }
        }
        Some(value)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map
            .get()
            .and_then(|m| m.read().ok().map(|m| m.len()))
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_kept_when_short_and_started_over_when_full() {
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
        memo.get("y", len);
        assert_eq!(memo.len(), 1, "a full memo starts over");
    }
}
