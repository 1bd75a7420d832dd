//! The logical lines of a requirements file, as uv reads them: physical
//! lines joined where one ends with `\`, comments removed, and the way back
//! from an offset in a logical line to a line and column of the file.

/// A line as uv reads it: physical lines joined where one ends with `\`,
/// without its comment.
pub(super) struct LogicalLine<'t> {
    /// The joined text, without comment.
    pub(super) text: String,
    /// `(offset in text, 1-based line number, the physical line)` for each
    /// physical line joined.
    parts: Vec<(usize, u32, &'t str)>,
}

impl LogicalLine<'_> {
    /// The 1-based line and column (in characters) of a byte offset.
    pub(super) fn position(&self, offset: usize) -> (u32, u32) {
        let (start, line, physical) = self
            .parts
            .iter()
            .rev()
            .find(|(start, _, _)| *start <= offset)
            .copied()
            .unwrap_or((0, 1, ""));
        let within = (offset - start).min(physical.len());
        let column = physical.get(..within).map_or(within, |s| s.chars().count());
        (line, column as u32 + 1)
    }
}

/// The logical lines of a file, in order (blank ones included).
pub(super) fn logical_lines(text: &str) -> Vec<LogicalLine<'_>> {
    let mut lines = Vec::new();
    let mut current: Option<LogicalLine<'_>> = None;
    for (physical, number) in text.split('\n').zip(1u32..) {
        let physical = physical.strip_suffix('\r').unwrap_or(physical);
        let line = current.get_or_insert_with(|| LogicalLine {
            text: String::new(),
            parts: Vec::new(),
        });
        line.parts.push((line.text.len(), number, physical));
        let content = strip_comment(physical);
        match content.strip_suffix('\\') {
            // A comment ends the line, even after a backslash (as in pip).
            Some(joined) if content.len() == physical.len() => line.text.push_str(joined),
            _ => {
                line.text.push_str(content);
                lines.extend(current.take());
            }
        }
    }
    lines.extend(current);
    lines
}

/// The line without its comment: `#` at the start or after whitespace.
fn strip_comment(line: &str) -> &str {
    let mut previous_space = true;
    for (i, c) in line.char_indices() {
        if c == '#' && previous_space {
            return line[..i].trim_end();
        }
        previous_space = c.is_whitespace();
    }
    line
}
