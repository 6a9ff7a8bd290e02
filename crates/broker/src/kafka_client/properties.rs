//! Java `.properties` text, the format of Kafka tools' `--command-config` files, read into
//! key/value pairs. No I/O and no meaning: what the keys mean is `config.rs`'s business.
//!
//! What is read (`java.util.Properties.load`):
//! - one `key=value` per logical line; `:` or plain whitespace also separate key and value,
//!   and whitespace around the separator is dropped (trailing whitespace of the value too);
//! - lines whose first non-blank character is `#` or `!` are comments; blank lines are skipped;
//! - a line ending in an odd number of backslashes continues on the next line, whose leading
//!   whitespace is dropped (how long `sasl.jaas.config` values are split);
//! - escapes: `\t`, `\n`, `\r`, `\f`, `\u` and four hex digits, and `\` before any other
//!   character stands for that character (`\=`, `\:`, `\\`, `\#`);
//! - a key given twice keeps its last value.
//!
//! Invariants: parsing never panics; an error names the line (never its value, which may be a
//! password).

use std::collections::BTreeMap;

/// The keys and values of a properties file, by key.
pub type Properties = BTreeMap<String, String>;

/// Parses properties text (see the module docs).
pub fn parse(text: &str) -> Result<Properties, String> {
    let mut out = Properties::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, first)) = lines.next() {
        let trimmed = first.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
            continue;
        }
        // Join continuation lines into one logical line.
        let mut logical = String::from(trimmed);
        while ends_in_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split(&logical);
        let key = unescape(key).map_err(|e| format!("line {}: {e}", index + 1))?;
        let value = unescape(value).map_err(|e| format!("line {}: {e}", index + 1))?;
        if key.is_empty() {
            return Err(format!("line {}: no key before the value", index + 1));
        }
        out.insert(key, value);
    }
    Ok(out)
}

/// Whether `line` ends in an odd number of backslashes.
fn ends_in_continuation(line: &str) -> bool {
    line.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

/// Splits a logical line into its raw (still escaped) key and value.
fn split(line: &str) -> (&str, &str) {
    let mut escaped = false;
    let mut key_end = line.len();
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' || c.is_whitespace() {
            key_end = i;
            break;
        }
    }
    let key = &line[..key_end];
    let mut rest = line[key_end..].trim_start();
    if let Some(r) = rest.strip_prefix('=').or_else(|| rest.strip_prefix(':')) {
        rest = r.trim_start();
    }
    (key, trim_end_unescaped(rest))
}

/// `s` without trailing whitespace, keeping a whitespace character that is escaped.
fn trim_end_unescaped(s: &str) -> &str {
    let trimmed = s.trim_end();
    if trimmed.len() < s.len() && ends_in_continuation(trimmed) {
        // `\ ` at the end: keep the escaped character.
        let next = s[trimmed.len()..].chars().next().map_or(0, char::len_utf8);
        return &s[..trimmed.len() + next];
    }
    trimmed
}

/// Resolves the escapes of a key or value.
fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .ok_or("malformed \\u escape (four hex digits expected)")?;
                out.push(char::from_u32(code).ok_or("\\u escape is not a character")?);
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Properties {
        parse(text).unwrap()
    }

    #[test]
    fn comments_blank_lines_and_trimming() {
        let p = one("# a comment\n\
             ! another\n\
             \n   \t\n\
             security.protocol = SASL_SSL  \n\
             \tsasl.mechanism=SCRAM-SHA-256\n\
             sasl.username:admin\n\
             sasl.password  admin secret \n\
             empty=\n\
             ssl.endpoint.identification.algorithm=\n\
             # security.protocol=PLAINTEXT\n");
        assert_eq!(p["security.protocol"], "SASL_SSL");
        assert_eq!(p["sasl.mechanism"], "SCRAM-SHA-256");
        assert_eq!(p["sasl.username"], "admin");
        assert_eq!(p["sasl.password"], "admin secret");
        assert_eq!(p["empty"], "");
        assert_eq!(p["ssl.endpoint.identification.algorithm"], "");
        assert_eq!(p.len(), 6);
    }

    #[test]
    fn values_keep_separators_and_hashes() {
        let p = one("a=b=c:d # not a comment\nb.c = x:y\r\nc=last\nc=wins\n");
        assert_eq!(p["a"], "b=c:d # not a comment");
        assert_eq!(p["b.c"], "x:y");
        assert_eq!(p["c"], "wins");
    }

    #[test]
    fn continuations_and_escapes() {
        let p = one(
            "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n\
             \x20   username=\"admin\" \\\n\
             \x20   password=\"admin-secret\";\n\
             path=C:\\\\certs\\\\ca.pem\n\
             key\\=with\\:seps = v\n\
             uni=\\u00e9t\\u00E9\n\
             tab=a\\tb\n\
             trailing=kept\\ \n\
             dangling=\\\n",
        );
        assert_eq!(
            p["sasl.jaas.config"],
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"admin-secret\";"
        );
        assert_eq!(p["path"], "C:\\certs\\ca.pem");
        assert_eq!(p["key=with:seps"], "v");
        assert_eq!(p["uni"], "été");
        assert_eq!(p["tab"], "a\tb");
        assert_eq!(p["trailing"], "kept ");
        assert_eq!(p["dangling"], "");
    }

    #[test]
    fn errors_name_the_line_not_the_value() {
        let e = parse("a=1\nsasl.password=hun\\u12ter2\n").unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        assert!(!e.contains("hun") && !e.contains("ter2"), "{e}");
        let e = parse("ok=1\n=value\n").unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        assert!(parse("").unwrap().is_empty());
    }
}
