//! C string conversions shared by the wrappers.
use std::ffi::{c_char, CStr, CString};

/// Copies a C string into a Rust String (lossy). A null pointer gives "".
///
/// # Safety
/// `p` must be null or point to a NUL-terminated string valid for the call.
pub unsafe fn to_string(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: the caller guarantees a valid NUL-terminated string.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// A CString for a name or argument given by the config; interior NULs are refused.
pub fn c(s: &str) -> anyhow::Result<CString> {
    CString::new(s).map_err(|_| anyhow::anyhow!("`{s}` contains a NUL byte"))
}
