//! Byte offsets to 1-based line and column numbers, counting columns in
//! characters as editors do.

/// Line starts of a text, for turning parser byte offsets into positions.
pub(super) struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    /// The 1-based `(line, column)` of a byte offset. Offsets past the end
    /// point just after the last character, offsets inside a character at
    /// that character; a byte-order mark at the start is invisible in
    /// editors, so it takes no column.
    pub(super) fn position(&self, offset: usize) -> (u32, u32) {
        self.positions(&[offset])[0]
    }

    /// The positions of many offsets in one pass over the text, so that
    /// thousands of diagnostics on one long line stay linear.
    pub(super) fn positions(&self, offsets: &[usize]) -> Vec<(u32, u32)> {
        let mut order: Vec<usize> = (0..offsets.len()).collect();
        order.sort_by_key(|&i| offsets[i]);
        let mut out = vec![(1, 1); offsets.len()];
        // The sweep: characters counted on `line` from its start up to `at`.
        let (mut line, mut at, mut column) = (0, 0, 0);
        for i in order {
            let mut offset = offsets[i].min(self.text.len());
            while !self.text.is_char_boundary(offset) {
                offset -= 1;
            }
            let target = self.starts.partition_point(|&s| s <= offset) - 1;
            if target != line {
                (line, at, column) = (target, self.starts[target], 0);
            }
            let skipped = &self.text[at..offset];
            column += skipped.chars().count();
            if at == 0 && skipped.starts_with('\u{feff}') {
                column -= 1;
            }
            at = offset;
            out[i] = (saturate(line + 1), saturate(column + 1));
        }
        out
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let index = LineIndex::new("ab\nçd\r\n\nx");
        assert_eq!(index.position(0), (1, 1));
        assert_eq!(index.position(1), (1, 2));
        assert_eq!(index.position(2), (1, 3));
        assert_eq!(index.position(3), (2, 1));
        // `ç` is two bytes, one column.
        assert_eq!(index.position(5), (2, 2));
        assert_eq!(index.position(8), (3, 1));
        assert_eq!(index.position(9), (4, 1));
        assert_eq!(index.position(10), (4, 2));
        assert_eq!(index.position(999), (4, 2));
    }

    #[test]
    fn many_offsets_in_any_order() {
        let index = LineIndex::new("ab\nçd\r\n\nx");
        let offsets = [10, 0, 5, 3, 5, 1, 999, 8];
        let one_by_one: Vec<_> = offsets.iter().map(|&o| index.position(o)).collect();
        assert_eq!(index.positions(&offsets), one_by_one);
        assert_eq!(one_by_one[2], (2, 2));
    }

    #[test]
    fn byte_order_mark_takes_no_column() {
        let index = LineIndex::new("\u{feff}[App]\nx");
        assert_eq!(index.position(0), (1, 1));
        assert_eq!(index.position(3), (1, 1));
        assert_eq!(index.position(4), (1, 2));
        assert_eq!(index.position(9), (2, 1));
        assert_eq!(index.positions(&[4, 3, 5]), [(1, 2), (1, 1), (1, 3)]);
    }

    #[test]
    fn offsets_inside_a_character_point_at_it() {
        let index = LineIndex::new("é=1");
        assert_eq!(index.position(1), (1, 1));
        assert_eq!(index.position(2), (1, 2));
    }
}
