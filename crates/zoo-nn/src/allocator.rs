//! How the process's malloc treats the memory libtorch frees.
//!
//! libtorch allocates every CPU tensor with malloc, and an eager network
//! allocates its activations anew on every forward. glibc's defaults serve
//! large blocks with fresh mappings and give memory freed at the top of the
//! heap back to the kernel, so each forward pays page faults and page
//! zeroing again: a third of MobileNet V3's time at batch 8 on the 2-core
//! machine was spent in them. jemalloc and tcmalloc (what PyTorch's CPU
//! performance guide recommends) keep freed memory by design; this does
//! the same with glibc's own knobs.

/// Serves blocks up to 32 MiB (glibc's largest mmap threshold) from the
/// heap and keeps up to 1 GiB of freed memory in the process for reuse.
/// Call at the start of a binary that runs models; a no-op off glibc.
/// Peak memory is unchanged; a process keeps its peak until it exits.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; both values are in
    // the ranges glibc documents, and a refused value leaves the default.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
