//! Greeting templates: `Bonjour, {name} !` parsed once, rendered many times. Safe Rust, no FFI.
//!
//! The rules, checked in this order, each refusal a [`GREETER_ERR_INVALID_TEMPLATE`] error whose
//! message names the problem and its **character offset** (a Unicode scalar index, the index a
//! Python `str` uses, not a byte offset):
//!
//! 1. at most [`GREETER_TEMPLATE_MAX_BYTES`] bytes of UTF-8;
//! 2. read left to right: `{{` is a literal `{`, `}}` a literal `}`, `{name}` a placeholder;
//!    a NUL character, any other `{...}` (such as `{}`, `{0}` or `{name!r}`), a `{` that opens
//!    nothing and a `}` that closes nothing are refused at the first one found;
//! 3. at least one `{name}`.
//!
//! Bytes that are not UTF-8 (only a C caller can send them) are refused with
//! [`GREETER_ERR_INVALID_UTF8`], as for names.
//!
//! So a valid template renders exactly as Python's `template.format(name=name)`, and the
//! template `Hello, {name}!` renders exactly as [`crate::greeting::greeting`].

use crate::error::{
    Error, Result, GREETER_ERR_INVALID_ARGUMENT, GREETER_ERR_INVALID_TEMPLATE,
    GREETER_ERR_INVALID_UTF8,
};
use crate::memory::text;
use crate::texts::split_packed;

/// The largest template accepted, in bytes of UTF-8 (64 KiB).
pub const GREETER_TEMPLATE_MAX_BYTES: usize = 65_536;

/// The placeholder a template must contain at least once.
const PLACEHOLDER: &str = "{name}";

/// A parsed, validated template: immutable, so one value is shared freely between threads.
///
/// Rendering is a loop over pre-split literal pieces (braces already unescaped) with the name
/// pushed between them: no parsing and exactly one allocation per greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The template as given.
    source: String,
    /// The literal pieces, unescaped: one more than placeholders, the name goes between them.
    pieces: Box<[Box<str>]>,
    /// Their total length in bytes.
    literal_len: usize,
}

/// A refusal at character offset `at`.
fn refuse(at: usize, problem: impl std::fmt::Display) -> Error {
    Error::new(
        GREETER_ERR_INVALID_TEMPLATE,
        format!("invalid template at character offset {at}: {problem}"),
    )
}

/// At most this many characters of a refused placeholder are quoted in the message.
const QUOTED_CHARS: usize = 40;

impl Template {
    /// Parses and validates UTF-8 `bytes` (a C caller's argument).
    pub fn from_utf8(bytes: &[u8]) -> Result<Template> {
        check_size(bytes)?;
        let text = std::str::from_utf8(bytes).map_err(|e| {
            Error::new(GREETER_ERR_INVALID_UTF8, format!("template is not valid UTF-8: {e}"))
        })?;
        Template::parse(text)
    }

    /// Parses and validates `text`; see the module documentation for the rules.
    pub fn parse(text: &str) -> Result<Template> {
        check_size(text.as_bytes())?;
        let mut pieces = Vec::new();
        let mut literals = String::new();
        // (byte index, character index) of each character still to read.
        let mut chars = text.char_indices().enumerate().peekable();
        while let Some((at, (byte, c))) = chars.next() {
            match c {
                '\0' => return Err(refuse(at, "a NUL character")),
                '{' if text[byte + 1..].starts_with('{') => {
                    chars.next();
                    literals.push('{');
                }
                '}' if text[byte + 1..].starts_with('}') => {
                    chars.next();
                    literals.push('}');
                }
                '}' => {
                    return Err(refuse(
                        at,
                        "a '}' that closes nothing (write '}}' for a literal brace)",
                    ))
                }
                '{' => {
                    let rest = &text[byte..];
                    if rest.starts_with(PLACEHOLDER) {
                        for _ in 1..PLACEHOLDER.len() {
                            chars.next(); // ASCII: one character per byte
                        }
                        pieces.push(std::mem::take(&mut literals).into_boxed_str());
                        continue;
                    }
                    // A '}' before the next '{' closes a placeholder greeter does not know.
                    return Err(match rest[1..].find(['{', '}']) {
                        Some(i) if rest.as_bytes()[1 + i] == b'}' => {
                            let inner = &rest[1..1 + i];
                            let quoted: String = inner.chars().take(QUOTED_CHARS).collect();
                            let more = if quoted.len() < inner.len() {
                                "..."
                            } else {
                                ""
                            };
                            refuse(
                                at,
                                format!(
                                    "unknown placeholder {{{}{more}}} (only {PLACEHOLDER} is \
                                     allowed; write '{{{{' and '}}}}' for literal braces)",
                                    quoted.escape_debug()
                                ),
                            )
                        }
                        _ => refuse(
                            at,
                            "a '{' that opens no placeholder (write '{{' for a literal brace)",
                        ),
                    });
                }
                c => literals.push(c),
            }
        }
        if pieces.is_empty() {
            return Err(refuse(
                text.chars().count(),
                format!("no {PLACEHOLDER} placeholder before the end"),
            ));
        }
        pieces.push(literals.into_boxed_str());
        Ok(Template {
            source: text.to_owned(),
            literal_len: pieces.iter().map(|p| p.len()).sum(),
            pieces: pieces.into_boxed_slice(),
        })
    }

    /// The template as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// How many `{name}` placeholders the template holds (at least one).
    pub fn placeholders(&self) -> usize {
        self.pieces.len() - 1
    }

    /// The bytes a greeting holds besides the names: the unescaped literal text.
    pub fn literal_len(&self) -> usize {
        self.literal_len
    }

    /// The exact length in bytes of the greeting for a name of `name_len` bytes; an error when
    /// it exceeds `isize::MAX` (no buffer can hold it).
    pub fn rendered_len(&self, name_len: usize) -> Result<usize> {
        self.placeholders()
            .checked_mul(name_len)
            .and_then(|n| n.checked_add(self.literal_len()))
            .filter(|&n| n <= isize::MAX as usize)
            .ok_or_else(too_long)
    }

    /// The greeting for `name`, in one allocation of its exact length: an error when that is
    /// over `isize::MAX` bytes, or `GREETER_ERR_OUT_OF_MEMORY` when the system cannot give it
    /// (a long template's many `{name}` times a long name).
    pub fn render(&self, name: &str) -> Result<String> {
        let mut out = text(self.rendered_len(name.len())?, "the greeting")?;
        let (first, rest) = self.split_pieces();
        out.push_str(first);
        for piece in rest {
            out.push_str(name);
            out.push_str(piece);
        }
        Ok(out)
    }

    /// Writes the greeting for `name` into `buf` when it fits, and returns its length either
    /// way (nothing is written when it does not fit). Fails only when the greeting would be
    /// longer than any buffer can be (`isize::MAX` bytes).
    pub fn render_into(&self, name: &str, buf: &mut [u8]) -> Result<usize> {
        let len = self.rendered_len(name.len())?;
        if len <= buf.len() {
            let written = self.write(name.as_bytes(), buf);
            debug_assert_eq!(written, len);
        }
        Ok(len)
    }

    /// The first piece, and the pieces that each follow a name.
    fn split_pieces(&self) -> (&str, &[Box<str>]) {
        let (first, rest) = self
            .pieces
            .split_first()
            .expect("a template has two pieces");
        (first, rest)
    }

    /// Writes the greeting for `name` at the start of `out`, which must hold it; returns its
    /// length. The hot loop of batch rendering: no length arithmetic, one copy per piece.
    fn write(&self, name: &[u8], out: &mut [u8]) -> usize {
        let (first, rest) = self.split_pieces();
        let mut at = first.len();
        out[..at].copy_from_slice(first.as_bytes());
        for piece in rest {
            out[at..at + name.len()].copy_from_slice(name);
            at += name.len();
            out[at..at + piece.len()].copy_from_slice(piece.as_bytes());
            at += piece.len();
        }
        at
    }

    /// The exact length in bytes of the greetings of `count` packed names taking `packed_len`
    /// bytes (names joined by single NUL bytes), joined the same way; `None` when it exceeds
    /// `isize::MAX` or `packed_len` cannot hold `count` names.
    pub fn rendered_many_len(&self, packed_len: usize, count: usize) -> Option<usize> {
        if count == 0 {
            return (packed_len == 0).then_some(0);
        }
        let separators = count - 1;
        let name_bytes = packed_len.checked_sub(separators)?;
        self.placeholders()
            .checked_mul(name_bytes)?
            .checked_add(self.literal_len().checked_mul(count)?)?
            .checked_add(separators)
            .filter(|&n| n <= isize::MAX as usize)
    }

    /// Renders a packed list of `count` names (UTF-8 joined by single NUL bytes, so `count`
    /// tells one empty name from none) into `out`, joined the same way, when they fit, and
    /// returns their total length [`Template::rendered_many_len`] either way (nothing is
    /// written when it exceeds `out.len()`). Fails when `packed` is not UTF-8 or does not hold
    /// exactly `count` names (a name held a NUL byte).
    pub fn render_many_into(&self, packed: &[u8], count: usize, out: &mut [u8]) -> Result<usize> {
        let names = split_packed(packed, count)?;
        let needed = self.rendered_many_len(packed.len(), count).ok_or_else(|| {
            Error::new(GREETER_ERR_INVALID_ARGUMENT, "the greetings are too long")
        })?;
        if needed > out.len() {
            return Ok(needed);
        }
        let mut at = 0;
        for (i, name) in names.enumerate() {
            if i > 0 {
                out[at] = 0;
                at += 1;
            }
            // Fits: the total of every greeting was checked above.
            at += self.write(name.as_bytes(), &mut out[at..]);
        }
        debug_assert_eq!(at, needed);
        Ok(needed)
    }
}

/// The error for output no buffer can hold.
fn too_long() -> Error {
    Error::new(GREETER_ERR_INVALID_ARGUMENT, "the greetings would be over isize::MAX bytes")
}

/// Refuses a template over [`GREETER_TEMPLATE_MAX_BYTES`] before reading it, naming the
/// character offset of the first byte past the limit.
fn check_size(bytes: &[u8]) -> Result<()> {
    if bytes.len() <= GREETER_TEMPLATE_MAX_BYTES {
        return Ok(());
    }
    // Characters that start before the first byte past the limit (UTF-8 continuation bytes
    // are 0b10xx_xxxx); the one holding that byte is the next, unless it starts there.
    let starts = |b: &&u8| (**b as i8) >= -0x40;
    let before = bytes[..GREETER_TEMPLATE_MAX_BYTES]
        .iter()
        .filter(starts)
        .count();
    let at = if starts(&&bytes[GREETER_TEMPLATE_MAX_BYTES]) {
        before
    } else {
        before.saturating_sub(1) // only reachable with bytes that are not UTF-8
    };
    Err(refuse(
        at,
        format!("{} bytes of UTF-8, over the {GREETER_TEMPLATE_MAX_BYTES}-byte limit", bytes.len()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::GREETER_ERR_INTERIOR_NUL;
    use crate::greeting::greeting;
    use crate::tests_serial;

    fn refusal(text: &str) -> String {
        let e = Template::parse(text).unwrap_err();
        assert_eq!(e.code, GREETER_ERR_INVALID_TEMPLATE, "{text:?}");
        e.message
    }

    #[test]
    fn renders_exactly() {
        let t = Template::parse("Bonjour, {name} !").unwrap();
        assert_eq!(t.render("Ann").unwrap(), "Bonjour, Ann !");
        assert_eq!(t.source(), "Bonjour, {name} !");
        assert_eq!(t.placeholders(), 1);
        let t = Template::parse("Hi {name}, {name}!").unwrap();
        assert_eq!(t.render("Bo").unwrap(), "Hi Bo, Bo!");
        assert_eq!(t.placeholders(), 2);
        assert_eq!(t.literal_len(), "Hi , !".len());
        let t = Template::parse("{name}").unwrap();
        assert_eq!(t.render("").unwrap(), "");
        assert_eq!(t.render("世界🌍").unwrap(), "世界🌍");
        let t = Template::parse("{{{name}}} {{name}} }}{{").unwrap();
        assert_eq!(t.render("x").unwrap(), "{x} {name} }{");
        let t = Template::parse("你好，{name}！👋 e\u{301}").unwrap();
        assert_eq!(t.render("🦀").unwrap(), "你好，🦀！👋 e\u{301}");
    }

    #[test]
    fn the_default_template_is_the_greeting() {
        let _serial = tests_serial();
        let t = Template::parse("Hello, {name}!").unwrap();
        for name in ["Alice", "", "世界🌍", "e\u{301}", "{name}"] {
            assert_eq!(t.render(name).unwrap(), greeting(name).unwrap());
        }
    }

    #[test]
    fn refusals_name_the_problem_and_its_character_offset() {
        let cases = [
            ("Hello!", 6, "no {name} placeholder before the end"),
            ("", 0, "no {name} placeholder before the end"),
            ("{{name}}", 8, "no {name} placeholder before the end"),
            (
                "世界{name} {0}",
                9,
                "unknown placeholder {0} (only {name} is allowed; write '{{' and '}}' for \
                 literal braces)",
            ),
            (
                "{}{name}",
                0,
                "unknown placeholder {} (only {name} is allowed; write '{{' and '}}' for \
                 literal braces)",
            ),
            (
                "{name!r}",
                0,
                "unknown placeholder {name!r} (only {name} is allowed; write '{{' and '}}' \
                 for literal braces)",
            ),
            ("🦀 {name", 2, "a '{' that opens no placeholder (write '{{' for a literal brace)"),
            (
                "{name} {x{name}",
                7,
                "a '{' that opens no placeholder (write '{{' for a literal brace)",
            ),
            ("é{name}}", 7, "a '}' that closes nothing (write '}}' for a literal brace)"),
            ("{{name}", 6, "a '}' that closes nothing (write '}}' for a literal brace)"),
            ("{name}ü\0", 7, "a NUL character"),
            // The first problem found is the one reported.
            ("a}b{c", 1, "a '}' that closes nothing (write '}}' for a literal brace)"),
        ];
        for (text, at, problem) in cases {
            assert_eq!(
                refusal(text),
                format!("invalid template at character offset {at}: {problem}"),
                "{text:?}"
            );
        }
    }

    #[test]
    fn long_unknown_placeholders_are_quoted_in_part_and_escaped() {
        let inner = "x".repeat(100);
        let message = refusal(&format!("{{name}}{{{inner}}}"));
        assert!(message.contains(&format!("{{{}...}}", "x".repeat(QUOTED_CHARS))));
        assert!(message.starts_with("invalid template at character offset 6: "));
        let message = refusal("{a\nb}{name}");
        assert!(message.contains("{a\\nb}"), "{message}");
    }

    #[test]
    fn the_size_limit_is_in_bytes_and_reported_in_characters() {
        let mut text = "{name}".to_owned();
        text.push_str(&"a".repeat(GREETER_TEMPLATE_MAX_BYTES - text.len()));
        assert_eq!(text.len(), GREETER_TEMPLATE_MAX_BYTES);
        assert!(Template::parse(&text).is_ok());
        text.push('b');
        assert_eq!(
            refusal(&text),
            "invalid template at character offset 65536: 65537 bytes of UTF-8, over the \
             65536-byte limit"
        );
        // Three-byte characters: byte 65536 is the second byte of character 21845.
        let text = format!("{{name}}{}", "世".repeat(21_844));
        assert_eq!(text.len(), 65_538);
        assert!(refusal(&text).starts_with("invalid template at character offset 21849: "));
        let text = format!("{}{{name}}", "世".repeat(30_000));
        assert!(refusal(&text).starts_with("invalid template at character offset 21845: "));
        // Checked before UTF-8, so a huge buffer is not read.
        let e = Template::from_utf8(&vec![0xff; GREETER_TEMPLATE_MAX_BYTES + 1]).unwrap_err();
        assert_eq!(e.code, GREETER_ERR_INVALID_TEMPLATE);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_as_for_names() {
        let e = Template::from_utf8(b"{name}\xff").unwrap_err();
        assert_eq!(e.code, GREETER_ERR_INVALID_UTF8);
        assert!(e.message.starts_with("template is not valid UTF-8"));
        assert_eq!(
            Template::from_utf8("{name}é".as_bytes())
                .unwrap()
                .render("x")
                .unwrap(),
            "xé"
        );
    }

    #[test]
    fn render_into_fits_or_reports_length() {
        let t = Template::parse("<{name}|{name}>").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(t.render_into("ab", &mut buf), Ok(7));
        assert_eq!(&buf[..7], b"<ab|ab>");
        let mut small = [9u8; 6];
        assert_eq!(t.render_into("ab", &mut small), Ok(7));
        assert_eq!(small, [9u8; 6], "nothing is written when it does not fit");
        assert!(t.rendered_len(usize::MAX).is_err());
        assert_eq!(t.rendered_len(isize::MAX as usize / 2 - 1), Ok(isize::MAX as usize));
        let e = t.rendered_len(isize::MAX as usize / 2).unwrap_err();
        assert_eq!(e.code, GREETER_ERR_INVALID_ARGUMENT);
        assert_eq!(t.rendered_len(10), Ok(23));
    }

    #[test]
    fn a_greeting_that_cannot_be_allocated_is_an_error() {
        let _serial = tests_serial();
        let t = Template::parse(&PLACEHOLDER.repeat(10_922)).unwrap();
        crate::memory::inject_failures(1);
        let e = t.render("x").unwrap_err();
        assert_eq!(e.code, crate::error::GREETER_ERR_OUT_OF_MEMORY);
        assert_eq!(e.message, "out of memory: cannot allocate 10923 bytes for the greeting");
        assert_eq!(t.render("x").unwrap().len(), 10_922, "the next one is served");
        // Over isize::MAX: refused before any allocation is tried.
        let huge = Template::parse("{name}{name}").unwrap();
        assert_eq!(
            huge.rendered_len(isize::MAX as usize).unwrap_err().code,
            GREETER_ERR_INVALID_ARGUMENT
        );
    }

    #[test]
    fn render_many_packs_greetings_exactly() {
        let t = Template::parse("[{name}/{name}]").unwrap();
        let packed = "Ann\0\0世界🌍".as_bytes();
        let want = "[Ann/Ann]\0[/]\0[世界🌍/世界🌍]";
        assert_eq!(t.rendered_many_len(packed.len(), 3), Some(want.len()));
        let mut out = vec![0u8; 64];
        assert_eq!(t.render_many_into(packed, 3, &mut out), Ok(want.len()));
        assert_eq!(&out[..want.len()], want.as_bytes());
        let mut small = [7u8; 10];
        assert_eq!(t.render_many_into(packed, 3, &mut small), Ok(want.len()));
        assert_eq!(small, [7u8; 10]);
        assert_eq!(t.render_many_into(b"", 1, &mut out), Ok(3));
        assert_eq!(&out[..3], b"[/]");
        assert_eq!(t.render_many_into(b"", 0, &mut out), Ok(0));
    }

    #[test]
    fn render_many_refuses_bad_input() {
        let t = Template::parse("{name}").unwrap();
        let mut out = [0u8; 64];
        let mut code =
            |packed: &[u8], count| t.render_many_into(packed, count, &mut out).unwrap_err();
        assert_eq!(code(b"a\0b\0c", 2).code, GREETER_ERR_INTERIOR_NUL);
        assert_eq!(code(b"a", 2).code, GREETER_ERR_INTERIOR_NUL);
        assert_eq!(code(b"a\xff", 1).code, GREETER_ERR_INVALID_UTF8);
        assert_eq!(code(b"a", 0).code, GREETER_ERR_INVALID_ARGUMENT);
        assert_eq!(code(b"", usize::MAX).code, GREETER_ERR_INTERIOR_NUL);
        assert_eq!(t.rendered_many_len(1, 3), None);
        assert_eq!(t.rendered_many_len(1, 0), None);
    }

    #[test]
    fn templates_are_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Template>();
    }
}

#[cfg(test)]
mod proptests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;

    /// The rules as a reference model written another way (over characters, by lookahead):
    /// the literal pieces of a valid template, or the character offset of its first problem.
    fn model(text: &str) -> std::result::Result<Vec<String>, usize> {
        let chars: Vec<char> = text.chars().collect();
        let mut pieces = vec![String::new()];
        let mut i = 0;
        while i < chars.len() {
            let ahead: String = chars[i..chars.len().min(i + 6)].iter().collect();
            if ahead == "{name}" {
                pieces.push(String::new());
                i += 6;
            } else if ahead.starts_with("{{") || ahead.starts_with("}}") {
                pieces.last_mut().unwrap().push(chars[i]);
                i += 2;
            } else if matches!(chars[i], '{' | '}' | '\0') {
                return Err(i);
            } else {
                pieces.last_mut().unwrap().push(chars[i]);
                i += 1;
            }
        }
        if pieces.len() < 2 {
            return Err(chars.len());
        }
        Ok(pieces)
    }

    /// Text made mostly of the characters the rules are about.
    fn template_text() -> impl Strategy<Value = String> {
        let atom = prop_oneof![
            4 => Just("{name}".to_owned()),
            2 => Just("{".to_owned()),
            2 => Just("}".to_owned()),
            2 => Just("{{".to_owned()),
            2 => Just("}}".to_owned()),
            1 => Just("{nam".to_owned()),
            1 => Just("\0".to_owned()),
            6 => "[a-z é世🦀\u{301}]{1,3}",
            1 => any::<char>().prop_map(String::from),
        ];
        vec(atom, 0..16).prop_map(|atoms| atoms.concat())
    }

    /// Any text made literal (braces doubled, NUL dropped), with `{name}` put in at some places.
    fn valid_template() -> impl Strategy<Value = (String, Vec<String>)> {
        vec(any::<String>(), 2..6).prop_map(|parts| {
            let pieces: Vec<String> = parts.iter().map(|p| p.replace('\0', "")).collect();
            let escaped: Vec<String> = pieces
                .iter()
                .map(|p| p.replace('{', "{{").replace('}', "}}"))
                .collect();
            (escaped.join("{name}"), pieces)
        })
    }

    fn check_renders(
        t: &Template, pieces: &[String], names: &[String],
    ) -> std::result::Result<(), TestCaseError> {
        prop_assert_eq!(t.placeholders(), pieces.len() - 1);
        for name in names {
            let want = pieces.join(name.as_str());
            prop_assert_eq!(t.render(name).unwrap(), want.clone());
            prop_assert_eq!(t.rendered_len(name.len()), Ok(want.len()));
            let mut buf = vec![0xa5u8; want.len() + 3];
            prop_assert_eq!(t.render_into(name, &mut buf), Ok(want.len()));
            prop_assert_eq!(&buf[..want.len()], want.as_bytes());
            prop_assert!(buf[want.len()..].iter().all(|&b| b == 0xa5));
        }
        let want: Vec<String> = names.iter().map(|n| pieces.join(n.as_str())).collect();
        let want = want.join("\0");
        let packed = names.join("\0");
        let mut out = vec![0u8; want.len()];
        let n = t.render_many_into(packed.as_bytes(), names.len(), &mut out);
        prop_assert_eq!(n, Ok(want.len()));
        prop_assert_eq!(t.rendered_many_len(packed.len(), names.len()), Some(want.len()));
        prop_assert_eq!(&out[..], want.as_bytes());
        Ok(())
    }

    fn names() -> impl Strategy<Value = Vec<String>> {
        vec(any::<String>().prop_map(|s| s.replace('\0', "")), 0..4)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn templates_are_refused_or_rendered_as_the_model(text in template_text(), names in names()) {
            match (Template::parse(&text), model(&text)) {
                (Ok(t), Ok(pieces)) => {
                    prop_assert_eq!(t.source(), text.as_str());
                    check_renders(&t, &pieces, &names)?;
                }
                (Err(e), Err(at)) => {
                    prop_assert_eq!(e.code, GREETER_ERR_INVALID_TEMPLATE);
                    let prefix = format!("invalid template at character offset {at}: ");
                    prop_assert!(e.message.starts_with(&prefix), "{} for {:?}", e.message, text);
                }
                (got, want) => prop_assert!(false, "{text:?}: parsed {got:?}, model {want:?}"),
            }
        }

        #[test]
        fn escaped_text_around_placeholders_renders_back(
            (text, pieces) in valid_template(),
            names in names(),
        ) {
            prop_assume!(text.len() <= GREETER_TEMPLATE_MAX_BYTES);
            let t = Template::parse(&text).unwrap();
            check_renders(&t, &pieces, &names)?;
        }

        #[test]
        fn from_utf8_agrees_with_parse(bytes in vec(any::<u8>(), 0..24), text in template_text()) {
            match std::str::from_utf8(&bytes) {
                Ok(s) => prop_assert_eq!(Template::from_utf8(&bytes), Template::parse(s)),
                Err(_) => prop_assert_eq!(
                    Template::from_utf8(&bytes).unwrap_err().code, GREETER_ERR_INVALID_UTF8
                ),
            }
            prop_assert_eq!(Template::from_utf8(text.as_bytes()), Template::parse(&text));
        }
    }
}
