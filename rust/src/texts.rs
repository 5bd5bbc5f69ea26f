//! What greeter accepts as text, and packed lists of texts: the rules every function that takes
//! text shares, whatever its domain. Safe Rust, no FFI.
//!
//! A text is UTF-8 without NUL bytes, because every text greeter returns is also handed out as
//! a NUL-terminated C string. A packed list is `count` texts joined by single NUL bytes (so
//! `count` tells one empty text from none): one buffer for a batch.

use crate::error::{
    Error, Result, GREETER_ERR_INTERIOR_NUL, GREETER_ERR_INVALID_ARGUMENT, GREETER_ERR_INVALID_UTF8,
};

/// Checks that `bytes` is text greeter accepts: UTF-8 with no NUL byte, because every text it
/// returns is also handed out as a NUL-terminated C string. `what` names the argument in the
/// error message ("name").
pub fn validate_text<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Error::new(GREETER_ERR_INVALID_UTF8, format!("{what} is not valid UTF-8: {e}"))
    })?;
    if let Some(pos) = bytes.iter().position(|&b| b == 0) {
        return Err(Error::new(
            GREETER_ERR_INTERIOR_NUL,
            format!("{what} contains a NUL byte at offset {pos}"),
        ));
    }
    Ok(text)
}

/// The `count` texts of a packed list (UTF-8 joined by single NUL bytes), checked: an error
/// when it is not UTF-8, or does not hold exactly `count` texts (one held a NUL byte).
pub fn split_packed(
    packed: &[u8], count: usize,
) -> Result<std::iter::Take<std::str::Split<'_, char>>> {
    if count == 0 && !packed.is_empty() {
        return Err(Error::new(
            GREETER_ERR_INVALID_ARGUMENT,
            "count is 0 but the names are not empty",
        ));
    }
    let text = std::str::from_utf8(packed).map_err(|e| {
        Error::new(GREETER_ERR_INVALID_UTF8, format!("the names are not valid UTF-8: {e}"))
    })?;
    let fields = packed.iter().filter(|&&b| b == 0).count() + 1;
    if count > 0 && fields != count {
        return Err(Error::new(
            GREETER_ERR_INTERIOR_NUL,
            format!(
                "the packed names hold {fields} NUL-separated names, not {count}: \
                 a name contains a NUL byte"
            ),
        ));
    }
    Ok(text.split('\0').take(count)) // `take`: no names at all when `count` is 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_validated() {
        assert_eq!(validate_text(b"Alice", "name"), Ok("Alice"));
        assert_eq!(validate_text(b"", "name").unwrap(), "");
        assert_eq!(validate_text(b"a\xffb", "name").unwrap_err().code, GREETER_ERR_INVALID_UTF8);
        let e = validate_text(b"ab\0c", "name").unwrap_err();
        assert_eq!(e.code, GREETER_ERR_INTERIOR_NUL);
        assert_eq!(e.message, "name contains a NUL byte at offset 2");
    }

    #[test]
    fn packed_lists_hold_exactly_count_texts() {
        let names: Vec<&str> = split_packed(b"a\0\0b", 3).unwrap().collect();
        assert_eq!(names, ["a", "", "b"]);
        assert_eq!(split_packed(b"", 1).unwrap().collect::<Vec<_>>(), [""]);
        assert_eq!(split_packed(b"", 0).unwrap().count(), 0);
        let e = split_packed(b"a\0b", 1).unwrap_err();
        assert_eq!(e.code, GREETER_ERR_INTERIOR_NUL);
        assert_eq!(split_packed(b"\xff", 1).unwrap_err().code, GREETER_ERR_INVALID_UTF8);
        assert_eq!(split_packed(b"a", 0).unwrap_err().code, GREETER_ERR_INVALID_ARGUMENT);
    }
}
