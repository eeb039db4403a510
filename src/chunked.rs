//! A list that grows in fixed-size chunks, for the per-conversation lists a run keeps to its
//! end (the promise join's contacts, the id index's ends and lines).
//!
//! A `Vec` grows by doubling: it allocates twice the room and copies everything across, so
//! for a moment it holds the old and the new storage at once. At a million conversations the
//! run's lists did that together, a spike of about 40 MB above the memory the run otherwise
//! needed at 4 GiB of input (peak RSS 177 MiB where the run held 132). A chunked list never
//! moves what it holds: it adds a chunk when the last is full.

use std::ops::Index;

/// Items per chunk: 65,536 (1.5 MB of 24-byte contacts).
const CHUNK_BITS: u32 = 16;
const CHUNK: usize = 1 << CHUNK_BITS;

/// A growing list, in chunks of 65,536 items.
#[derive(Debug, Clone)]
pub struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Chunked<T> {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    pub fn push(&mut self, item: T) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let last = self.chunks.len() - 1;
        self.chunks[last].push(item);
        self.len += 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn last(&self) -> Option<&T> {
        self.chunks.last().and_then(|chunk| chunk.last())
    }

    /// The items in one `Vec` of their exact length; each chunk is freed once it is moved,
    /// so the two together hold about one copy of the items, not two.
    pub fn into_vec(self) -> Vec<T> {
        let mut all = Vec::with_capacity(self.len);
        for chunk in self.chunks {
            all.extend(chunk);
        }
        all
    }
}

impl<T> Index<usize> for Chunked<T> {
    type Output = T;

    fn index(&self, index: usize) -> &T {
        &self.chunks[index >> CHUNK_BITS][index & (CHUNK - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_where_a_vec_would_hold_them() {
        // Empty, within one chunk, at a chunk's edge, and across several chunks.
        for count in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5] {
            let mut list = Chunked::default();
            for i in 0..count {
                list.push(i as u64 * 3);
            }
            assert_eq!(list.len(), count);
            assert_eq!(list.is_empty(), count == 0);
            assert_eq!(
                list.last().copied(),
                count.checked_sub(1).map(|i| i as u64 * 3)
            );
            for i in [0, count / 2, count.saturating_sub(1)] {
                if i < count {
                    assert_eq!(list[i], i as u64 * 3, "item {i} of {count}");
                }
            }
            let all = list.into_vec();
            assert_eq!(all.len(), count);
            assert_eq!(all.capacity(), count);
            assert!(all.iter().enumerate().all(|(i, &v)| v == i as u64 * 3));
        }
    }
}
