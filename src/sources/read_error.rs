//! serde's messages, retold without the input they quote.
//!
//! serde words a type error with the value it could not read (`invalid type:
//! string "…", expected a map`), and a manifest is where a secret pasted into
//! the wrong field ends up: that message would carry it into the log, `keyward
//! check` output and status. So no serde message reaches a user as it is: the
//! shapes serde is known to produce are retold with the kind of value found
//! and what was expected; anything else (a custom message of a field's own
//! deserializer, which may quote too) becomes a plain "cannot be read". Field
//! paths are written one way everywhere: `spec.resources[0].name`.

use std::fmt::Write as _;

/// A map key is shown in a path only when it looks like a field name; a key is
/// written by the user too.
fn key_shown(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 63
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
}

fn push_key(out: &mut String, key: &str) {
    if !out.is_empty() {
        out.push('.');
    }
    out.push_str(if key_shown(key) { key } else { "(a key)" });
}

/// The path of a type error, as `spec.resources[0].name`; empty at the root.
pub fn error_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => {
                let _ = write!(out, "[{index}]");
            }
            Segment::Map { key } | Segment::Enum { variant: key } => push_key(&mut out, key),
            Segment::Unknown => push_key(&mut out, "?"),
        }
    }
    out
}

/// The path of an unknown field, as `spec.grantTypes.clientCredential`.
pub fn ignored_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    let mut out = String::new();
    fn walk(path: &Path<'_>, out: &mut String) {
        match path {
            Path::Root => {}
            Path::Seq { parent, index } => {
                walk(parent, out);
                let _ = write!(out, "[{index}]");
            }
            Path::Map { parent, key } => {
                walk(parent, out);
                push_key(out, key);
            }
            // serde_ignored marks each Option and newtype it passes through.
            Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => {
                walk(parent, out)
            }
        }
    }
    walk(path, &mut out);
    out
}

/// What was found, named by its kind: `string "…"` becomes `a string`.
fn found(unexpected: &str) -> &'static str {
    const KINDS: [(&str, &str); 10] = [
        ("string", "a string"),
        ("integer", "an integer"),
        ("floating point", "a number"),
        ("boolean", "a boolean"),
        ("character", "a character"),
        ("unit value", "null"),
        ("map", "a map"),
        ("sequence", "a list"),
        ("byte array", "bytes"),
        ("enum", "a tagged value"),
    ];
    KINDS.iter().find(|(prefix, _)| unexpected.starts_with(prefix)).map_or("another kind of value", |(_, k)| k)
}

/// serde's own `expected …` text names a type, written in code, never input.
/// The last `, expected ` is the one serde wrote: the quoted input before it
/// may itself contain the words.
fn split_expected(rest: &str) -> Option<(&str, &str)> {
    let at = rest.rfind(", expected ")?;
    Some((&rest[..at], &rest[at + ", expected ".len()..]))
}

/// A serde message retold without any input it quoted.
pub fn without_input(message: &str) -> String {
    if let Some((unexpected, expected)) = message.strip_prefix("invalid type: ").and_then(split_expected) {
        return format!("expected {expected}, found {}", found(unexpected));
    }
    if let Some((unexpected, expected)) = message.strip_prefix("invalid value: ").and_then(split_expected) {
        return format!("{} that is not {expected}", found(unexpected));
    }
    // "3, expected a list of 2": a count, not content.
    if let Some((len, expected)) = message.strip_prefix("invalid length ").and_then(split_expected)
        && len.bytes().all(|b| b.is_ascii_digit())
    {
        return format!("{len} entries, expected {expected}");
    }
    if message.starts_with("unknown variant `") {
        if let Some((_, expected)) = split_expected(message) {
            return format!("not an accepted value: expected {expected}");
        }
        return "not an accepted value".into();
    }
    for (prefix, what) in [("missing field `", "missing field"), ("duplicate field `", "duplicate field")] {
        if let Some(field) = message.strip_prefix(prefix).and_then(|r| r.strip_suffix('`')) {
            // Field names come from our types (missing) or the manifest (duplicate).
            return if key_shown(field) { format!("{what} {field}") } else { what.to_owned() };
        }
    }
    "cannot be read as this field's type".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "kw-canary-7f3a9c";

    #[test]
    fn a_string_where_a_map_is_expected_names_both_kinds_and_not_the_string() {
        let m = without_input(&format!("invalid type: string \"client_secret: {CANARY}\", expected a map"));
        assert_eq!(m, "expected a map, found a string");
    }

    #[test]
    fn input_that_imitates_serde_wording_cannot_smuggle_itself_through() {
        let m = without_input(&format!("invalid type: string \"x, expected {CANARY}\", expected struct SecretSpec"));
        assert_eq!(m, "expected struct SecretSpec, found a string");
    }

    #[test]
    fn every_known_shape_is_retold_without_the_value() {
        let cases = [
            (format!("invalid type: integer `{}`, expected a string", 12345), "expected a string, found an integer"),
            (format!("invalid value: string \"{CANARY}\", expected a duration"), "a string that is not a duration"),
            (
                format!("unknown variant `{CANARY}`, expected one of `api`, `mcpServer`"),
                "not an accepted value: expected one of `api`, `mcpServer`",
            ),
            (format!("unknown variant `{CANARY}`, there are no variants"), "not an accepted value"),
            ("invalid length 3, expected a list of 2".to_owned(), "3 entries, expected a list of 2"),
            ("missing field `displayName`".to_owned(), "missing field displayName"),
            (format!("duplicate field `{CANARY} {CANARY}`"), "duplicate field"),
            (format!("Invalid byte 45, offset 3 in {CANARY}"), "cannot be read as this field's type"),
        ];
        for (input, want) in cases {
            let got = without_input(&input);
            assert_eq!(got, want, "{input}");
            assert!(!got.contains(CANARY));
        }
    }

    #[test]
    fn odd_map_keys_are_not_shown_in_paths() {
        let mut out = String::new();
        push_key(&mut out, "stringData");
        push_key(&mut out, "a key with spaces and a secret");
        assert_eq!(out, "stringData.(a key)");
    }
}
