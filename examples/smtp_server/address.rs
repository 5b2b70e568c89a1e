//! The address parsing smtpd borrows from Python's `email._header_value_parser`:
//! `get_angle_addr` (`<a@b>`) and `get_addr_spec` (`a@b`), with the same control flow, so
//! the same input is accepted, refused, or makes the parser fail (smtpd did not catch the
//! parser's exceptions: the connection closed), and the same text is left over as the
//! command's parameters.
//!
//! What is approximated: the address text given back (only the maildir headers show it:
//! comments dropped, a local part quoted when it holds a special character), and RFC 2047
//! encoded words (`=?utf-8?q?...?=`), which this port reads as plain atoms.

use super::py;

/// The parser gave up (Python raised `HeaderParseError`, or an `IndexError` on the way).
#[derive(Debug)]
pub struct ParseError;

type Parsed<'a, T> = Result<(T, &'a str), ParseError>;

fn first(value: &str) -> Option<char> {
    value.chars().next()
}

/// `value[0]`: an `IndexError` (so a failure) on an empty string.
fn head(value: &str) -> Result<char, ParseError> {
    first(value).ok_or(ParseError)
}

fn rest(value: &str) -> &str {
    let mut chars = value.chars();
    chars.next();
    chars.as_str()
}

fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_cfws_leader(c: char) -> bool {
    is_wsp(c) || c == '('
}

fn is_special(c: char) -> bool {
    "()<>@,:;.\\\"[]".contains(c)
}

fn is_atom_end(c: char) -> bool {
    is_special(c) || is_wsp(c)
}

fn is_dot_atom_end(c: char) -> bool {
    is_atom_end(c) && c != '.'
}

fn is_phrase_end(c: char) -> bool {
    is_special(c) && !".\"(".contains(c)
}

fn starts_with(value: &str, test: impl Fn(char) -> bool) -> bool {
    first(value).is_some_and(test)
}

/// Folding white space: Python's `value.lstrip()` (any white space, not only `WSP`).
fn get_fws(value: &str) -> &str {
    value.trim_start_matches(py::is_space)
}

/// `_get_ptext_to_endchars`: up to the first white space or end character, quoted pairs
/// unquoted.
fn get_ptext<'a>(value: &'a str, endchars: &str) -> Parsed<'a, String> {
    let fragment_len = value.find(is_wsp).unwrap_or(value.len());
    if fragment_len == 0 {
        return Err(ParseError); // Python: `pos` unbound
    }
    let mut text = String::new();
    let mut escape = false;
    let mut end = fragment_len;
    for (i, c) in value[..fragment_len].char_indices() {
        if c == '\\' {
            if escape {
                escape = false;
            } else {
                escape = true;
                continue;
            }
        }
        if escape {
            escape = false;
        } else if endchars.contains(c) {
            end = i;
            break;
        }
        text.push(c);
    }
    Ok((text, &value[end..]))
}

fn get_comment(value: &str) -> Parsed<'_, ()> {
    if first(value) != Some('(') {
        return Err(ParseError);
    }
    let mut value = rest(value);
    while let Some(c) = first(value) {
        if c == ')' {
            return Ok(((), rest(value)));
        }
        value = if is_wsp(c) {
            get_fws(value)
        } else if c == '(' {
            get_comment(value)?.1
        } else {
            get_ptext(value, "()")?.1
        };
    }
    Ok(((), value)) // end of input inside a comment: a defect only
}

fn get_cfws(mut value: &str) -> Parsed<'_, ()> {
    while let Some(c) = first(value).filter(|&c| is_cfws_leader(c)) {
        value = if is_wsp(c) {
            get_fws(value)
        } else {
            get_comment(value)?.1
        };
    }
    Ok(((), value))
}

fn skip_cfws(value: &str) -> Result<&str, ParseError> {
    if starts_with(value, is_cfws_leader) {
        Ok(get_cfws(value)?.1)
    } else {
        Ok(value)
    }
}

fn get_atext(value: &str) -> Parsed<'_, String> {
    let end = value.find(is_atom_end).unwrap_or(value.len());
    if end == 0 {
        return Err(ParseError);
    }
    Ok((value[..end].to_string(), &value[end..]))
}

fn get_bare_quoted_string(value: &str) -> Parsed<'_, String> {
    if head(value)? != '"' {
        return Err(ParseError);
    }
    let mut value = rest(value);
    let mut text = String::new();
    while let Some(c) = first(value) {
        if c == '"' {
            return Ok((text, rest(value)));
        }
        if is_wsp(c) {
            let after = get_fws(value);
            text.push_str(&value[..value.len() - after.len()]);
            value = after;
        } else {
            let (part, after) = get_ptext(value, "\"")?;
            text.push_str(&part);
            value = after;
        }
    }
    Ok((text, value)) // end of input inside a quoted string: a defect only
}

fn get_quoted_string(value: &str) -> Parsed<'_, String> {
    let value = skip_cfws(value)?;
    let (text, value) = get_bare_quoted_string(value)?;
    Ok((text, skip_cfws(value)?))
}

fn get_atom(value: &str) -> Parsed<'_, String> {
    let value = skip_cfws(value)?;
    if starts_with(value, is_atom_end) {
        return Err(ParseError);
    }
    let (text, value) = get_atext(value)?;
    Ok((text, skip_cfws(value)?))
}

fn get_dot_atom_text(mut value: &str) -> Parsed<'_, String> {
    if !starts_with(value, |c| !is_atom_end(c)) {
        return Err(ParseError);
    }
    let mut text = String::new();
    while starts_with(value, |c| !is_atom_end(c)) {
        let (atext, after) = get_atext(value)?;
        text.push_str(&atext);
        value = after;
        if first(value) == Some('.') {
            text.push('.');
            value = rest(value);
        }
    }
    if text.ends_with('.') {
        return Err(ParseError);
    }
    Ok((text, value))
}

fn get_dot_atom(value: &str) -> Parsed<'_, String> {
    let value = skip_cfws(value)?;
    let (text, value) = get_dot_atom_text(value)?;
    Ok((text, skip_cfws(value)?))
}

fn get_word(value: &str) -> Parsed<'_, String> {
    let value = skip_cfws(value)?;
    match first(value) {
        None => Err(ParseError),
        Some('"') => get_quoted_string(value),
        Some(c) if is_special(c) => Err(ParseError),
        Some(_) => get_atom(value),
    }
}

/// `get_obs_local_part`: words, dots and stray backslashes; always a local part (its
/// defects only mark it invalid). Comments and white space count as one space inside.
fn get_obs_local_part(mut value: &str) -> Parsed<'_, String> {
    let mut text = String::new();
    let mut tokens = 0;
    while starts_with(value, |c| c == '\\' || !is_phrase_end(c)) {
        tokens += 1;
        let c = head(value)?;
        if c == '.' || c == '\\' {
            text.push(c);
            value = rest(value);
            continue;
        }
        match get_word(value) {
            Ok((word, after)) => {
                text.push_str(&word);
                value = after;
            }
            Err(_) if is_cfws_leader(c) => {
                value = get_cfws(value)?.1;
                text.push(' ');
            }
            Err(e) => return Err(e),
        }
    }
    if tokens == 0 {
        return Err(ParseError); // Python: an IndexError on the empty token list
    }
    Ok((text.trim().to_string(), value))
}

fn get_local_part(value: &str) -> Parsed<'_, String> {
    let start = value;
    let value = skip_cfws(value)?;
    if value.is_empty() {
        return Err(ParseError);
    }
    let (text, value) = match get_dot_atom(value) {
        Ok(parsed) => parsed,
        Err(_) => match get_word(value) {
            Ok(parsed) => parsed,
            Err(e) => {
                let c = head(value)?;
                if c != '\\' && is_phrase_end(c) {
                    return Err(e);
                }
                (String::new(), value)
            }
        },
    };
    if starts_with(value, |c| c == '\\' || !is_phrase_end(c)) {
        // Not a dot-atom: parsed again from the start as an obsolete local part.
        return get_obs_local_part(start);
    }
    Ok((text, value))
}

fn get_domain_literal(value: &str) -> Parsed<'_, String> {
    let value = skip_cfws(value)?;
    if head(value)? != '[' {
        return Err(ParseError);
    }
    let mut value = rest(value);
    if value.is_empty() {
        return Ok(("[]".to_string(), value));
    }
    if starts_with(value, is_wsp) {
        value = get_fws(value);
    }
    let (text, mut value) = get_ptext(value, "[]")?;
    let literal = format!("[{text}]");
    if value.is_empty() {
        return Ok((literal, value));
    }
    if starts_with(value, is_wsp) {
        value = get_fws(value);
    }
    if value.is_empty() {
        return Ok((literal, value));
    }
    if head(value)? != ']' {
        return Err(ParseError);
    }
    Ok((literal, skip_cfws(rest(value))?))
}

fn get_domain(value: &str) -> Parsed<'_, String> {
    let value = skip_cfws(value)?;
    if value.is_empty() {
        return Err(ParseError);
    }
    if first(value) == Some('[') {
        return get_domain_literal(value);
    }
    let (mut text, mut value) = match get_dot_atom(value) {
        Ok(parsed) => parsed,
        Err(_) => get_atom(value)?,
    };
    if first(value) == Some('@') {
        return Err(ParseError);
    }
    while first(value) == Some('.') {
        let (atom, after) = get_atom(rest(value))?;
        text.push('.');
        text.push_str(&atom);
        value = after;
    }
    text.retain(|c| !py::is_space(c));
    Ok((text, value))
}

/// `get_addr_spec`: `local@domain` (or a local part alone), and what follows it.
pub fn get_addr_spec(value: &str) -> Parsed<'_, String> {
    let (local, value) = get_local_part(value)?;
    let local = if local.contains(is_dot_atom_end) {
        py::quote_string(&local)
    } else {
        local
    };
    if first(value) != Some('@') {
        return Ok((local, value));
    }
    let (domain, value) = get_domain(rest(value))?;
    Ok((format!("{local}@{domain}"), value))
}

fn get_obs_route(mut value: &str) -> Parsed<'_, ()> {
    while let Some(c) = first(value).filter(|&c| c == ',' || is_cfws_leader(c)) {
        value = if c == ',' {
            rest(value)
        } else {
            get_cfws(value)?.1
        };
    }
    if first(value) != Some('@') {
        return Err(ParseError);
    }
    value = get_domain(rest(value))?.1;
    while first(value) == Some(',') {
        value = rest(value);
        if value.is_empty() {
            break;
        }
        value = skip_cfws(value)?;
        if head(value)? == '@' {
            value = get_domain(rest(value))?.1;
        }
    }
    if head(value)? != ':' {
        return Err(ParseError);
    }
    Ok(((), rest(value)))
}

/// `get_angle_addr`: `<a@b>` (the closing `>` may be missing), `<>` (given back as `<>`),
/// or `<@route:a@b>`; and what follows it.
pub fn get_angle_addr(value: &str) -> Parsed<'_, String> {
    let value = skip_cfws(value)?;
    if first(value) != Some('<') {
        return Err(ParseError);
    }
    let value = rest(value);
    if head(value)? == '>' {
        return Ok(("<>".to_string(), rest(value)));
    }
    let (address, value) = match get_addr_spec(value) {
        Ok(parsed) => parsed,
        Err(_) => {
            let (_, value) = get_obs_route(value)?;
            get_addr_spec(value)?
        }
    };
    let value = if first(value) == Some('>') {
        rest(value)
    } else {
        value
    };
    Ok((address, skip_cfws(value)?))
}
