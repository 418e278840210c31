//! A panic inside a libtorch call, turned into an error. tch panics where
//! libtorch refuses a scalar argument (its `Scalar` drop unwraps the error
//! the refused call left behind), so a hostile or unusual graph could
//! otherwise end `zoo run` with a panic instead of an error naming the
//! layer. The binaries' panic hook stays quiet for panics caught here
//! ([`guarded`]) and reports the rest as before.

use crate::error::{NnError, Result};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};

thread_local! {
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`; a panic becomes [`NnError::Other`] with its message.
pub fn no_panic<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    let outer = GUARDED.replace(true);
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDED.set(outer);
    result.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("a panic without a message");
        Err(NnError::Other(crate::error::strip_cpp_trace(message)))
    })
}

/// Whether this thread is inside [`no_panic`]: a panic here is reported as
/// the error it becomes, so a panic hook should not print it.
pub fn guarded() -> bool {
    GUARDED.get()
}

/// Installs a panic hook that leaves panics inside [`no_panic`] to the
/// error they become and reports every other one as Rust does.
pub fn quiet_guarded_panics() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !guarded() {
            report(info);
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_errors_and_the_guard_is_left_as_found() {
        quiet_guarded_panics();
        let e = no_panic::<()>(|| panic!("libtorch refused {}", 1.5)).unwrap_err();
        assert_eq!(e.to_string(), "libtorch refused 1.5");
        assert!(!guarded());
        assert_eq!(no_panic(|| Ok(7)).unwrap(), 7);
        let nested = no_panic(|| {
            let inner = no_panic::<()>(|| panic!("inner"));
            assert!(guarded());
            inner
        });
        assert_eq!(nested.unwrap_err().to_string(), "inner");
        assert!(!guarded());
    }

    /// The panic tch raises for a scalar libtorch refuses (float32 cannot
    /// hold 1e300) is caught as an error.
    #[test]
    fn a_refused_scalar_is_an_error() {
        quiet_guarded_panics();
        let e = no_panic(|| {
            Ok(tch::Tensor::f_full(
                [2],
                1e300,
                (tch::Kind::Float, tch::Device::Cpu),
            )?)
        })
        .unwrap_err();
        assert!(e.to_string().contains("overflow"), "{e}");
    }
}
