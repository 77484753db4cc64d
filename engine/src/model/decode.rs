//! Decoding weight and optimiser records from untrusted bytes (model files, checkpoints).
//!
//! burn's record decoders validate most of what they read and return errors, but a few
//! malformed inputs reach an `expect` inside burn (found by `engine/tests/model_fuzz.rs`: an
//! optimiser record tensor without a parameter id). A corrupt file must give the user an error
//! naming it, not end the program, so those decoders run behind [`guarded`], which turns such
//! a panic into an error. (burn's panic message still reaches stderr through the default panic
//! hook; the program goes on.)

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `decode`, turning a panic inside it into `Err` with the panic's message.
pub(crate) fn guarded<T>(decode: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    // The closure only reads the bytes it was given and builds a new value: nothing it could
    // leave half-updated is used after a panic.
    catch_unwind(AssertUnwindSafe(decode)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "the decoder failed".into());
        Err(format!("malformed record: {message}"))
    })
}

#[cfg(test)]
mod tests {
    use super::guarded;

    #[test]
    fn a_panic_in_the_decoder_becomes_an_error() {
        let result: Result<(), String> = guarded(|| panic!("record tensor without an id"));
        assert_eq!(
            result,
            Err("malformed record: record tensor without an id".into())
        );
        assert_eq!(guarded(|| Ok::<_, String>(7)), Ok(7));
        assert_eq!(
            guarded(|| Err::<(), _>("bad".to_string())),
            Err("bad".into())
        );
    }
}
