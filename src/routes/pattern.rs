//! Route path patterns: parsing `/life/{id}/**` into segments, and the
//! "does pattern A match everything pattern B matches" test `check` uses to
//! find rules that can never be reached.

use std::fmt;

use crate::canonical::canonicalize;

/// One segment of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Matches exactly this (canonical) segment text; may be empty, for a
    /// trailing slash as in `/life/`.
    Literal(Box<str>),
    /// `*` or `{name}`: exactly one non-empty segment.
    One,
    /// `**`, last only: any number of remaining segments, including none.
    Rest,
}

/// A parsed path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub segments: Vec<Segment>,
    source: Box<str>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct PatternError(pub String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Pattern {
    pub fn parse(source: &str) -> Result<Pattern, PatternError> {
        let err = |msg: String| Err(PatternError(msg));
        let Some(body) = source.strip_prefix('/') else {
            return err(format!("path pattern {source:?} must start with '/'"));
        };
        let parts: Vec<&str> = body.split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        let mut names: Vec<&str> = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let segment = match *part {
                "**" if last => Segment::Rest,
                "**" => return err(format!("in {source:?}: '**' may only be the last segment")),
                "*" => Segment::One,
                "" if !last => {
                    return err(format!("in {source:?}: empty segment ('//'); requests are matched after repeated slashes are merged"))
                }
                p if p.starts_with('{') && p.ends_with('}') => {
                    let name = &p[1..p.len() - 1];
                    let valid = !name.is_empty()
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if !valid {
                        return err(format!("in {source:?}: segment name {p:?} must be letters, digits or '_'"));
                    }
                    if names.contains(&name) {
                        return err(format!("in {source:?}: segment name {name:?} is used twice"));
                    }
                    names.push(name);
                    Segment::One
                }
                p if p.contains(['*', '{', '}']) => {
                    return err(format!("in {source:?}: {p:?} mixes text and wildcards; use '*', '**' or '{{name}}' as a whole segment"))
                }
                p if p.contains(['?', '<', '>', '`']) => {
                    return err(format!("in {source:?}: segment {p:?} can never match: a request path cannot contain '?', '<', '>' or '`' (the query string never takes part in matching)"))
                }
                "." | ".." => {
                    return err(format!("in {source:?}: dot segments never reach matching (requests are canonicalised first)"))
                }
                p => {
                    let probe = format!("/{p}");
                    match canonicalize(&probe) {
                        Ok(canonical) if canonical == probe => Segment::Literal(p.into()),
                        Ok(canonical) => {
                            return err(format!("in {source:?}: segment {p:?} is not in canonical form; write it as {:?}", &canonical[1..]))
                        }
                        Err(_) => {
                            return err(format!("in {source:?}: segment {p:?} can never match: requests with such a path are refused with 400"))
                        }
                    }
                }
            };
            segments.push(segment);
        }
        Ok(Pattern {
            segments,
            source: source.into(),
        })
    }

    /// True when the canonical `path` fits this pattern (the trie in
    /// `matcher` answers the same, faster, for a whole table).
    pub fn matches(&self, path: &str) -> bool {
        let Some(body) = path.strip_prefix('/') else {
            return false;
        };
        let mut parts = body.split('/');
        for segment in &self.segments {
            match segment {
                Segment::Rest => return true,
                Segment::One => match parts.next() {
                    Some(part) if !part.is_empty() => {}
                    _ => return false,
                },
                Segment::Literal(text) => {
                    if parts.next() != Some(text) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True when every path this pattern's `other` matches is also matched by
    /// `self`: a later route with pattern `other` is shadowed by `self`.
    pub fn covers(&self, other: &Pattern) -> bool {
        let mut mine = self.segments.iter();
        let mut theirs = other.segments.iter();
        loop {
            match (mine.next(), theirs.next()) {
                (Some(Segment::Rest), _) => return true,
                (None, None) => return true,
                (Some(Segment::Literal(a)), Some(Segment::Literal(b))) if a == b => {}
                (Some(Segment::One), Some(Segment::One)) => {}
                (Some(Segment::One), Some(Segment::Literal(b))) if !b.is_empty() => {}
                _ => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    #[test]
    fn parses_all_segment_kinds() {
        assert_eq!(
            p("/life/{id}/*/**").segments,
            vec![
                Segment::Literal("life".into()),
                Segment::One,
                Segment::One,
                Segment::Rest
            ]
        );
        assert_eq!(p("/").segments, vec![Segment::Literal("".into())]);
        assert_eq!(
            p("/life/").segments,
            vec![Segment::Literal("life".into()), Segment::Literal("".into())]
        );
    }

    #[test]
    fn rejects_bad_patterns() {
        for bad in [
            "life", "/a/**/b", "/a//b", "/a*", "/{}", "/{a}/{a}", "/a/../b", "/%2e", "/a;b",
            "/a b", "/%7e",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn coverage() {
        assert!(p("/**").covers(&p("/admin/**")));
        assert!(p("/admin/**").covers(&p("/admin/users")));
        assert!(p("/admin/*").covers(&p("/admin/{id}")));
        assert!(p("/admin/*").covers(&p("/admin/x")));
        assert!(!p("/admin/*").covers(&p("/admin/")));
        assert!(!p("/admin/*").covers(&p("/admin/**")));
        assert!(!p("/admin").covers(&p("/admin/x")));
        assert!(!p("/admin/x").covers(&p("/admin/*")));
    }
}
