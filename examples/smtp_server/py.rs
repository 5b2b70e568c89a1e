//! The few Python string operations smtpd's replies and output depend on, with Python's
//! meaning: `str.isspace`/`strip`/`split`, `str.isalnum`, `repr` of bytes and of a list of
//! strings, and `email.utils.quote`'s quoting. (Python's Unicode character classes are
//! taken from Rust's, which agree on everything but rare code points.)

/// `str.isspace` for one character: Rust's White_Space plus the four ASCII separators
/// (`\x1c`–`\x1f`) Python also counts.
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// `str.strip()`.
pub fn strip(text: &str) -> &str {
    text.trim_matches(is_space)
}

/// `str.split()`: runs of white space separate, none at either end.
pub fn split(text: &str) -> Vec<&str> {
    text.split(is_space)
        .filter(|part| !part.is_empty())
        .collect()
}

/// `str.isalnum()`: not empty, every character a letter or a number.
pub fn is_alnum(text: &str) -> bool {
    !text.is_empty() && text.chars().all(char::is_alphanumeric)
}

/// `email.utils.quote` inside double quotes (`_header_value_parser.quote_string`).
pub fn quote_string(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// Python's `repr(b'...')`.
pub fn repr_bytes(bytes: &[u8]) -> String {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(bytes.len() + 3);
    out.push('b');
    out.push(quote);
    for &byte in bytes {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ if byte == quote as u8 => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(byte as char),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr(str)` (the characters Python prints as they are: not the C0 and C1
/// controls, DEL, or the separators).
fn repr_str(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ if c == quote => {
                out.push('\\');
                out.push(quote);
            }
            _ if (c as u32) < 0x20 || ('\x7f'..='\u{a0}').contains(&c) => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            _ if c.is_whitespace() && c != ' ' => out.push_str(&format!("\\u{:04x}", c as u32)),
            _ => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr(list_of_str)`: `['SIZE=10', 'BODY=8BITMIME']`.
pub fn repr_str_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|item| repr_str(item)).collect();
    format!("[{}]", items.join(", "))
}

/// `bytes.splitlines()`: lines end at `\n`, `\r` or `\r\n`; no empty last line.
pub fn split_lines(data: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'\n' => {
                lines.push(&data[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&data[start..i]);
                if data.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < data.len() {
        lines.push(&data[start..]);
    }
    lines
}
