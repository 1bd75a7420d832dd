//! "Did you mean …?": the closest candidate to a misspelt key or category.

/// Optimal string alignment distance (Levenshtein plus adjacent
/// transpositions), comparing characters case-insensitively.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().flat_map(char::to_lowercase).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    // Three rows: two back (for transpositions), previous, current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            cur[j] = best;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `word`: an exact case-insensitive match first,
/// then the smallest edit distance within a third of the word's length (at
/// least one edit). Ties go to the earlier candidate.
pub(super) fn closest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    if let Some(same) = candidates.iter().find(|c| c.eq_ignore_ascii_case(word)) {
        return Some(same);
    }
    // Very long words cannot be typos of our short names; skip the work.
    if word.len() > 64 {
        return None;
    }
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("Module", "module"), 0);
        assert_eq!(edit_distance("Modul", "Module"), 1);
        assert_eq!(edit_distance("Verison", "Version"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("Größe", "grösse"), 2);
    }

    #[test]
    fn closest_candidate() {
        let keys = [
            "Name",
            "Version",
            "Title",
            "Description",
            "Category",
            "Keywords",
        ];
        assert_eq!(closest("name", &keys), Some("Name"));
        assert_eq!(closest("Verison", &keys), Some("Version"));
        assert_eq!(closest("Descripton", &keys), Some("Description"));
        assert_eq!(closest("Keyword", &keys), Some("Keywords"));
        assert_eq!(closest("Colour", &keys), None);
        assert_eq!(closest("X", &keys), None);
        assert_eq!(closest(&"a".repeat(1000), &keys), None);
    }
}
