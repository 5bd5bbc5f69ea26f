//! The few kinds of value that cross the C ABI, each converted in exactly one place.
//!
//! | C side | Rust side | conversion |
//! |---|---|---|
//! | borrowed UTF-8 text in: `const char *p, size_t len` | `&str` | [`text_in`] |
//! | borrowed bytes in: `const char *p, size_t len` | `&[u8]` | [`bytes_in`] |
//! | packed texts in: `const char *p, const size_t *lens, size_t count` | `Vec<Result<&str>>` | [`texts_in`] |
//! | packed bytes in: `const char *p, const size_t *lens, size_t count` | `Vec<&[u8]>` | [`byte_strings_in`] |
//! | caller's buffer out: `char *p, size_t len` | `&mut [u8]` | [`buffer_out`] |
//! | caller's array out: `T *p, size_t count` | `&mut [T]` | [`slice_out`] |
//! | owned string out: `char *`, freed by `greeter_string_free` | `String` | [`string_out`], [`string_free`] |
//! | text in, new string out | `fn(&str) -> Result<String>` | [`map_text`] |
//! | text in, text into the caller's buffer (the usual text function) | `fn(&str) -> Result<String>` | [`map_text_into`] |
//! | scalar out: `T *` (NULL: not wanted) | `T` | [`value_out`] |
//! | opaque reference-counted handle: `GreeterX *` | `Arc<X>` | [`handle_out`], [`handle_in`], [`handle_free`] |
//! | a new object, its `_free`, a method on text (the usual object type) | `Counted<X>`, `fn(&X, &str)` | [`new_handle`], [`drop_handle`], [`text_method`] |
//! | asynchronous result: bytes with a length in a drain | anything `Into<Output>` (`String`, `Vec<u8>`, `i64`) | `crate::pool::Output`'s `From` impls |
//! | asynchronous result that is a new object: its handle in a drain | `Arc<X>` | [`handle_result`] |
//!
//! Every function here that reads or writes through a raw pointer is an `unsafe fn` whose
//! `# Safety` section is the contract the C caller signs in the export's own `# Safety` docs.

use std::ffi::{c_char, CString};
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::sync::Arc;

use crate::error::{Error, Result, GREETER_ERR_INVALID_ARGUMENT, GREETER_ERR_NULL_POINTER};
use crate::memory::{reserved, vec};
use crate::objects::Counted;
use crate::pool::Output;
use crate::strings::{count_freed, count_handed_out};
use crate::texts::validate_text;

/// What every caller-provided region must be before it is borrowed as a slice: non-NULL, and
/// no longer than a slice may be.
fn check_region(is_null: bool, len: usize, what: &str) -> Result<()> {
    if is_null {
        return Err(Error::new(GREETER_ERR_NULL_POINTER, format!("{what} is NULL")));
    }
    if len > isize::MAX as usize {
        return Err(Error::new(
            GREETER_ERR_INVALID_ARGUMENT,
            format!("{what} length {len} exceeds isize::MAX"),
        ));
    }
    Ok(())
}

/// Borrows `len` bytes at `ptr`; NULL is accepted for an empty input.
///
/// # Safety
/// When `len` is not 0, `ptr` is NULL or points to `len` readable bytes that stay valid and
/// unmodified for `'a`.
pub unsafe fn bytes_in<'a>(ptr: *const c_char, len: usize, what: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    check_region(ptr.is_null(), len, what)?;
    // SAFETY: non-NULL and within isize::MAX, readable for `len` bytes by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// Borrows `len` bytes at `ptr` as text: UTF-8 without NUL bytes (every text greeter returns
/// is also a C string). NULL is refused even for an empty text: a missing argument is a bug.
///
/// # Safety
/// As for [`bytes_in`].
pub unsafe fn text_in<'a>(ptr: *const c_char, len: usize, what: &str) -> Result<&'a str> {
    check_region(ptr.is_null(), len, what)?;
    // SAFETY: non-NULL and within isize::MAX, readable for `len` bytes by the caller's contract.
    validate_text(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) }, what)
}

/// Borrows `count` texts packed back to back at `ptr`, the `i`-th `lens[i]` bytes long. The
/// outer error is for the arguments as a whole (NULL, lengths overflowing); each text is
/// validated on its own, so one bad text does not hide the others.
///
/// # Safety
/// As for [`packed_in`].
pub unsafe fn texts_in<'a>(
    ptr: *const c_char, lens: *const usize, count: usize,
) -> Result<Vec<Result<&'a str>>> {
    // SAFETY: forwarded from this function's contract.
    unsafe { packed_in(ptr, lens, count, "names", |text| validate_text(text, "name")) }
}

/// Borrows `count` byte strings packed back to back at `ptr`, the `i`-th `lens[i]` bytes long,
/// any bytes (NUL included). The error is for the arguments as a whole (NULL, lengths
/// overflowing).
///
/// # Safety
/// As for [`packed_in`].
pub unsafe fn byte_strings_in<'a>(
    ptr: *const c_char, lens: *const usize, count: usize,
) -> Result<Vec<&'a [u8]>> {
    // SAFETY: forwarded from this function's contract.
    unsafe { packed_in(ptr, lens, count, "data", |bytes| bytes) }
}

/// The `count` inputs packed back to back at `ptr` (the `i`-th `lens[i]` bytes long), each
/// passed through `each`: the body of [`texts_in`] and [`byte_strings_in`]. `what` names the
/// packed inputs in errors.
///
/// # Safety
/// When `count` is not 0, `lens` is NULL or readable for `count` lengths, and `ptr` is NULL or
/// readable for their sum; both stay valid and unmodified for `'a`.
unsafe fn packed_in<'a, T>(
    ptr: *const c_char, lens: *const usize, count: usize, what: &str, each: impl Fn(&'a [u8]) -> T,
) -> Result<Vec<T>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    check_region(lens.is_null(), count.saturating_mul(std::mem::size_of::<usize>()), "lens")?;
    // SAFETY: non-NULL, readable for `count` elements by contract, size checked above.
    let lens = unsafe { std::slice::from_raw_parts(lens, count) };
    let total = lens
        .iter()
        .try_fold(0usize, |acc, &n| acc.checked_add(n))
        .ok_or_else(|| Error::new(GREETER_ERR_INVALID_ARGUMENT, "the lengths overflow"))?;
    // SAFETY: forwarded from this function's contract (`total` bytes readable).
    let packed = unsafe { bytes_in(ptr, total, what) }?;
    let mut inputs = vec(count, what)?;
    let mut at = 0;
    inputs.extend(lens.iter().map(|&n| {
        let input = &packed[at..at + n];
        at += n;
        each(input)
    })); // fits: room for `count` was made above
    Ok(inputs)
}

/// Borrows the caller's array of `count` elements at `ptr` for writing; NULL is accepted only
/// when `count` is 0.
///
/// # Safety
/// When `count` is not 0, `ptr` is NULL or aligned and writable for `count` elements, not
/// aliased by anything else read or written during `'a`; `T` is a plain integer type (any bit
/// pattern valid), since the elements may be uninitialised.
pub unsafe fn slice_out<'a, T>(ptr: *mut T, count: usize, what: &str) -> Result<&'a mut [T]> {
    if count == 0 {
        return Ok(&mut []);
    }
    check_region(ptr.is_null(), count.saturating_mul(std::mem::size_of::<T>()), what)?;
    // SAFETY: non-NULL, within isize::MAX bytes, writable for `count` elements and not aliased,
    // by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, count) })
}

/// Borrows the caller's output buffer of `len` bytes at `ptr` for writing; NULL is accepted
/// only when `len` is 0.
///
/// # Safety
/// As for [`slice_out`] with `count` bytes.
pub unsafe fn buffer_out<'a>(ptr: *mut c_char, len: usize, what: &str) -> Result<&'a mut [u8]> {
    // SAFETY: forwarded from this function's contract.
    unsafe { slice_out(ptr.cast::<u8>(), len, what) }
}

/// Hands `s` to the caller as a NUL-terminated string it owns and frees with
/// `greeter_string_free`, counted by `greeter_live_strings`; its length in bytes (without the
/// NUL) goes to `len_out` when that is not NULL.
///
/// `s` must not contain NUL: every producer validates its input, so a NUL here is a bug and
/// panics (inside the guard). Producers make `s` with room for the terminator
/// ([`crate::memory::text`]), so nothing is reallocated; otherwise the terminator's room is
/// asked for fallibly (`GREETER_ERR_OUT_OF_MEMORY`).
///
/// # Safety
/// `len_out` is NULL or valid for writes.
pub unsafe fn string_out(s: String, len_out: *mut usize) -> Result<*mut c_char> {
    let len = s.len();
    let mut bytes = s.into_bytes();
    reserved(bytes.try_reserve_exact(1), "a string's terminator", len)?;
    bytes.push(0); // fits: no reallocation
    let c =
        CString::from_vec_with_nul(bytes).expect("greeter never hands out a string containing NUL");
    count_handed_out();
    // SAFETY: forwarded from this function's contract.
    unsafe { value_out(len_out, len) };
    Ok(c.into_raw())
}

/// The body of an export that maps a text to a new string (`greeter_greet`): `work` on the
/// borrowed text at `ptr`, its result handed out as by [`string_out`].
///
/// # Safety
/// As for [`text_in`] and [`string_out`].
pub unsafe fn map_text(
    ptr: *const c_char, len: usize, len_out: *mut usize, work: impl FnOnce(&str) -> Result<String>,
) -> Result<*mut c_char> {
    // SAFETY: forwarded from this function's contract.
    unsafe { string_out(work(text_in(ptr, len, "name")?)?, len_out) }
}

/// The body of an export that maps a text into the caller's buffer (`greeter_greet_into`'s
/// shape, for any `work`): `work` on the borrowed text at `ptr`; its result is written to `out`
/// when it fits, and its length in bytes is returned either way. A caller whose buffer was too
/// short calls again with one that long, and `work` runs again.
///
/// # Safety
/// As for [`text_in`] and [`buffer_out`].
pub unsafe fn map_text_into(
    ptr: *const c_char, len: usize, out: *mut c_char, out_len: usize,
    work: impl FnOnce(&str) -> Result<String>,
) -> Result<i64> {
    // SAFETY: forwarded from this function's contract.
    let out = unsafe { buffer_out(out, out_len, "out")? };
    // SAFETY: forwarded from this function's contract.
    let result = work(unsafe { text_in(ptr, len, "name")? })?;
    if let Some(room) = out.get_mut(..result.len()) {
        room.copy_from_slice(result.as_bytes());
    }
    // A String is at most isize::MAX bytes long.
    Ok(result.len() as i64)
}

/// Takes back a string made by [`string_out`] and frees it. NULL is accepted and ignored.
///
/// # Safety
/// `ptr` is NULL or a pointer returned by [`string_out`] that has not been freed yet.
pub unsafe fn string_free(ptr: *mut c_char) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: by this function's contract `ptr` came from `CString::into_raw` in `string_out`
    // and is reclaimed exactly once.
    drop(unsafe { CString::from_raw(ptr) });
    count_freed();
}

/// Writes `value` to `*out` when `out` is not NULL.
///
/// # Safety
/// `out` is NULL or valid for writes and not aliased during the call.
pub unsafe fn value_out<T>(out: *mut T, value: T) {
    // SAFETY: NULL or valid for writes, by contract.
    if let Some(slot) = unsafe { out.as_mut() } {
        *slot = value;
    }
}

/// An opaque C type standing for a reference-counted Rust value: the C caller holds pointers
/// to `Self`, which are `Arc<Self::Inner>` in disguise (`Arc::into_raw`). Declare the C type as
/// a zero-sized `pub struct GreeterX { _opaque: [u8; 0] }` (cbindgen then writes an opaque
/// `typedef struct GreeterX GreeterX;`) and implement this trait for it.
pub trait Handle {
    /// The Rust value behind the handle.
    type Inner: Send + Sync;
    /// How an error names a NULL handle of this type (`"greeter is NULL"`).
    const WHAT: &'static str = "handle";
}

/// Hands the caller a reference to `value`: a handle it owns and gives back with the type's
/// `_free` export ([`handle_free`]).
pub fn handle_out<H: Handle>(value: Arc<H::Inner>) -> *mut H {
    Arc::into_raw(value).cast::<H>().cast_mut()
}

/// The value behind a handle, borrowed for one call without touching the caller's reference:
/// derefs to the value; `Arc::clone(&borrowed)` gives work that outlives the call (a queued
/// task) a reference of its own.
pub struct Borrowed<T>(ManuallyDrop<Arc<T>>);

impl<T> Deref for Borrowed<T> {
    type Target = Arc<T>;
    fn deref(&self) -> &Arc<T> {
        &self.0
    }
}

/// Borrows the value behind `ptr` for one call; NULL is refused with `GREETER_ERR_NULL_POINTER`.
///
/// # Safety
/// `ptr` is NULL or a handle from [`handle_out`] for the same `H` whose reference the caller
/// holds until the borrow ends (it is not freed concurrently).
pub unsafe fn handle_in<H: Handle>(ptr: *const H, what: &str) -> Result<Borrowed<H::Inner>> {
    if ptr.is_null() {
        return Err(Error::new(GREETER_ERR_NULL_POINTER, format!("{what} is NULL")));
    }
    // SAFETY: made by `Arc::into_raw` in `handle_out` and still counted, since the caller holds
    // that reference for the call; ManuallyDrop leaves the count untouched.
    Ok(Borrowed(ManuallyDrop::new(unsafe { Arc::from_raw(ptr.cast::<H::Inner>()) })))
}

/// The body of an export that makes a new object: `value`, counted by `greeter_live_objects`
/// until its last reference goes, handed to the caller as a handle ([`handle_out`]).
pub fn new_handle<H: Handle<Inner = Counted<T>>, T>(value: T) -> Result<*mut H> {
    Ok(handle_out(Arc::new(Counted::new(value))))
}

/// The body of a handle type's `_free` export: takes back the caller's reference
/// ([`handle_free`]) and drops it; the value goes with its last reference. NULL is accepted.
///
/// # Safety
/// As for [`handle_free`].
pub unsafe fn drop_handle<H: Handle>(ptr: *mut H) -> Result<()> {
    // SAFETY: forwarded from this function's contract.
    drop(unsafe { handle_free(ptr) });
    Ok(())
}

/// The body of a method export on text: `work` on the object behind `handle` (borrowed for
/// the call, as by [`handle_in`]) and the borrowed text at `ptr` (as by [`text_in`]).
///
/// # Safety
/// As for [`handle_in`] and [`text_in`].
pub unsafe fn text_method<H: Handle, R>(
    handle: *const H, ptr: *const c_char, len: usize,
    work: impl FnOnce(&H::Inner, &str) -> Result<R>,
) -> Result<R> {
    // SAFETY: forwarded from this function's contract.
    let object = unsafe { handle_in(handle, H::WHAT) }?;
    // SAFETY: forwarded from this function's contract.
    work(&object, unsafe { text_in(ptr, len, "name") }?)
}

/// An asynchronous result that is a new object: the caller's reference to `value`, handed out
/// with the completion as its pointer (8 bytes, native byte order), which the caller then owns
/// and gives back with the type's `_free`. A result never handed out (its task cancelled
/// while running, its queue closed, the pool shut down) drops the reference itself.
pub fn handle_result<H: Handle + 'static>(value: Arc<H::Inner>) -> Output {
    let address = handle_out::<H>(value) as usize;
    Output::owning((address as u64).to_ne_bytes(), move || {
        // SAFETY: made by `handle_out` just above and never handed out (the release runs only
        // for an output dropped without being handed out), so this reference is taken back
        // exactly once.
        drop(unsafe { handle_free(address as *mut H) });
    })
}

/// Takes back the caller's reference to a handle; the value goes with its last reference.
/// NULL gives `None`.
///
/// # Safety
/// `ptr` is NULL or a handle from [`handle_out`] for the same `H`, given back once, and not
/// used again by the caller.
pub unsafe fn handle_free<H: Handle>(ptr: *mut H) -> Option<Arc<H::Inner>> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: made by `Arc::into_raw` in `handle_out`; the caller's reference, taken back once,
    // by contract.
    Some(unsafe { Arc::from_raw(ptr.cast_const().cast::<H::Inner>()) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{GREETER_ERR_INTERIOR_NUL, GREETER_ERR_INVALID_UTF8};
    use crate::strings::live;

    #[test]
    fn strings_out_and_back_balance() {
        let _serial = crate::tests_serial(); // the counter is process-wide
        let before = live();
        let mut len = 0;
        // SAFETY: `len` is writable.
        let ptr = unsafe { string_out("héllo".to_owned(), &mut len) }.unwrap();
        assert_eq!(len, 6);
        // SAFETY: `ptr` was just handed out and is valid for `len + 1` bytes.
        let bytes = unsafe { std::slice::from_raw_parts(ptr as *const u8, len + 1) };
        assert_eq!(bytes, "héllo\0".as_bytes());
        // SAFETY: handed out above, taken back once; NULL is accepted.
        unsafe {
            string_free(ptr);
            string_free(std::ptr::null_mut());
        }
        assert_eq!(live(), before);
    }

    #[test]
    fn map_text_into_writes_what_fits_and_always_gives_the_length() {
        let upper = |s: &str| Ok(s.to_uppercase());
        let mut buf = [0u8; 8];
        // SAFETY: every pointer is valid for the stated length, or NULL with length 0.
        unsafe {
            let n = map_text_into(b"abc".as_ptr().cast(), 3, buf.as_mut_ptr().cast(), 8, upper);
            assert_eq!((n, &buf[..3]), (Ok(3), &b"ABC"[..]));
            let long = "straße".as_bytes();
            let n = map_text_into(long.as_ptr().cast(), 7, buf.as_mut_ptr().cast(), 3, upper);
            assert_eq!((n, &buf[..3]), (Ok(7), &b"ABC"[..]), "too long: nothing written");
            let n = map_text_into(long.as_ptr().cast(), 7, std::ptr::null_mut(), 0, upper);
            assert_eq!(n, Ok(7));
            let null = map_text_into(long.as_ptr().cast(), 7, std::ptr::null_mut(), 4, upper);
            assert_eq!(null.unwrap_err().code, GREETER_ERR_NULL_POINTER);
            let bad = map_text_into(b"\xff".as_ptr().cast(), 1, buf.as_mut_ptr().cast(), 8, upper);
            assert_eq!(bad.unwrap_err().code, GREETER_ERR_INVALID_UTF8);
        }
    }

    #[test]
    fn texts_are_checked_in_order_null_length_utf8_nul() {
        // SAFETY: every pointer is valid for the stated length, or NULL.
        unsafe {
            assert_eq!(text_in(b"Zo".as_ptr().cast(), 2, "name"), Ok("Zo"));
            assert_eq!(text_in(b"Zo".as_ptr().cast(), 0, "name"), Ok(""));
            let null = text_in(std::ptr::null(), 0, "name").unwrap_err();
            assert_eq!(
                (null.code, null.message.as_str()),
                (GREETER_ERR_NULL_POINTER, "name is NULL")
            );
            let huge = text_in(b"x".as_ptr().cast(), usize::MAX, "name").unwrap_err();
            assert_eq!(huge.code, GREETER_ERR_INVALID_ARGUMENT);
            let utf8 = text_in(b"\xff".as_ptr().cast(), 1, "name").unwrap_err();
            assert_eq!(utf8.code, GREETER_ERR_INVALID_UTF8);
            let nul = text_in(b"a\0".as_ptr().cast(), 2, "name").unwrap_err();
            assert_eq!(
                (nul.code, nul.message.as_str()),
                (GREETER_ERR_INTERIOR_NUL, "name contains a NUL byte at offset 1")
            );
            assert_eq!(bytes_in(std::ptr::null(), 0, "names"), Ok(&[][..]));
        }
    }

    #[test]
    fn packed_texts_fail_alone() {
        let lens = [3usize, 3, 0];
        // SAFETY: `lens` holds 3 lengths summing to the 6 bytes given.
        let texts = unsafe { texts_in(b"AnnB\0d".as_ptr().cast(), lens.as_ptr(), 3) }.unwrap();
        assert_eq!(texts[0], Ok("Ann"));
        assert_eq!(texts[1].as_ref().unwrap_err().code, GREETER_ERR_INTERIOR_NUL);
        assert_eq!(texts[2], Ok(""));
        // SAFETY: NULL pointers, refused before any read.
        unsafe {
            assert_eq!(texts_in(std::ptr::null(), std::ptr::null(), 0), Ok(vec![]));
            let e = texts_in(b"x".as_ptr().cast(), std::ptr::null(), 1).unwrap_err();
            assert_eq!(e.code, GREETER_ERR_NULL_POINTER);
            let big = [usize::MAX, 2];
            let e = texts_in(b"x".as_ptr().cast(), big.as_ptr(), 2).unwrap_err();
            assert_eq!(e.code, GREETER_ERR_INVALID_ARGUMENT);
        }
    }

    #[test]
    fn packed_byte_strings_take_any_bytes() {
        let lens = [3usize, 0, 3];
        // SAFETY: `lens` holds 3 lengths summing to the 6 bytes given.
        let all = unsafe { byte_strings_in(b"\0\xffAB\0d".as_ptr().cast(), lens.as_ptr(), 3) };
        assert_eq!(all, Ok(vec![&b"\0\xffA"[..], b"", b"B\0d"]));
        // SAFETY: NULL pointers, refused before any read.
        unsafe {
            assert_eq!(byte_strings_in(std::ptr::null(), std::ptr::null(), 0), Ok(vec![]));
            let e = byte_strings_in(std::ptr::null(), [1usize].as_ptr(), 1).unwrap_err();
            assert_eq!((e.code, e.message.as_str()), (GREETER_ERR_NULL_POINTER, "data is NULL"));
            let big = [usize::MAX, 2];
            let e = byte_strings_in(b"x".as_ptr().cast(), big.as_ptr(), 2).unwrap_err();
            assert_eq!(e.code, GREETER_ERR_INVALID_ARGUMENT);
        }
    }

    #[test]
    fn buffers_out_refuse_null_with_room() {
        // SAFETY: NULL with length 0 is the empty buffer; NULL with room is refused.
        unsafe {
            assert!(buffer_out(std::ptr::null_mut(), 0, "out")
                .unwrap()
                .is_empty());
            let e = buffer_out(std::ptr::null_mut(), 4, "out").unwrap_err();
            assert_eq!(e.message, "out is NULL");
        }
    }

    struct Thing {
        _opaque: [u8; 0],
    }
    impl Handle for Thing {
        type Inner = String;
    }

    struct Book {
        _opaque: [u8; 0],
    }
    impl Handle for Book {
        type Inner = Counted<String>;
        const WHAT: &'static str = "book";
    }

    #[test]
    fn objects_are_made_called_on_text_and_dropped() {
        let _serial = crate::tests_serial(); // the live-object counter is process-wide
        let before = crate::objects::live();
        let book: *mut Book = new_handle(String::from("«")).unwrap();
        assert_eq!(crate::objects::live(), before + 1);
        let join = |book: &Counted<String>, name: &str| Ok(format!("{}{name}»", book.as_str()));
        // SAFETY: a live handle and texts valid for their lengths, or NULL; dropped once.
        unsafe {
            let joined = text_method(book, b"Zo".as_ptr().cast(), 2, join);
            assert_eq!(joined.unwrap(), "«Zo»");
            let e = text_method(std::ptr::null::<Book>(), b"Zo".as_ptr().cast(), 2, join);
            assert_eq!(e.unwrap_err().message, "book is NULL");
            let e = text_method(book, b"\xff".as_ptr().cast(), 1, join).unwrap_err();
            assert_eq!(e.code, GREETER_ERR_INVALID_UTF8);
            drop_handle(book).unwrap();
            drop_handle(std::ptr::null_mut::<Book>()).unwrap();
        }
        assert_eq!(crate::objects::live(), before);
    }

    #[test]
    fn handles_count_references() {
        let value = Arc::new("shared".to_owned());
        let ptr = handle_out::<Thing>(Arc::clone(&value));
        assert_eq!(Arc::strong_count(&value), 2);
        // SAFETY: `ptr` is a live handle whose reference this test holds.
        unsafe {
            let task_ref = {
                let borrowed = handle_in(ptr, "thing").unwrap();
                assert_eq!(borrowed.as_str(), "shared");
                Arc::clone(&borrowed)
            };
            assert_eq!(Arc::strong_count(&value), 3, "a borrow leaves the count alone");
            drop(task_ref);
            assert!(handle_in::<Thing>(std::ptr::null(), "thing").is_err());
            drop(handle_free(ptr));
            assert!(handle_free::<Thing>(std::ptr::null_mut()).is_none());
        }
        assert_eq!(Arc::strong_count(&value), 1);
    }
}
