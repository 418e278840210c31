//! How a libtorch binary ends.
//!
//! At `exit`, libtorch's static destructors take every operator back out of
//! its dispatcher, one registration at a time: about 0.1 s of CPU on the
//! 2-core machine, after the command has done all its work and on every
//! command (a perf profile of `zoo import onnx` put 0.11 s between the
//! package's final rename and the `exit_group` call, almost all of it in
//! `c10::Dispatcher` deregistration under `__cxa_finalize`). Nothing those
//! destructors do outlives the process, so a command that has flushed its
//! output can leave without them, as compilers do (LLVM's `--disable-free`
//! and `_exit`).

/// Flushes Rust's and C's standard streams, then ends the process with
/// `code` without running atexit handlers or static destructors. Call only
/// once every file the command writes is closed (dropped): the work of
/// unflushed writers would be lost.
pub fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: fflush(NULL) flushes every C stdio stream (libtorch's C++
    // streams write through them); _exit ends the process at once, which
    // is sound at any point, and the kernel releases its memory, files and
    // any device context.
    unsafe {
        libc::fflush(std::ptr::null_mut());
        libc::_exit(code)
    }
}
