//! Runs zoo's own CPU kernels on libtorch's intra-op threads.
//!
//! libtorch parallelises through OpenMP (libgomp), whose worker threads spin
//! for a while after each parallel region before they sleep. A kernel that
//! started threads of its own would compete with those spinning workers for
//! the same cores (on the project's 2-core machine that made a depthwise
//! convolution 2–3× slower than on one thread). Running the kernel's shares
//! inside an OpenMP parallel region puts them on the very threads that
//! spin, as `at::parallel_for` does.
//!
//! libgomp's entry points are looked up at run time in the process (libtorch
//! loaded it); where they are missing, the shares run one after another on
//! the calling thread.

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::OnceLock;

type GompParallel = unsafe extern "C" fn(
    body: unsafe extern "C" fn(*mut c_void),
    data: *mut c_void,
    num_threads: u32,
    flags: u32,
);
type OmpInt = unsafe extern "C" fn() -> i32;

struct Gomp {
    parallel: GompParallel,
    thread_num: OmpInt,
    num_threads: OmpInt,
}

fn gomp() -> Option<&'static Gomp> {
    static GOMP: OnceLock<Option<Gomp>> = OnceLock::new();
    GOMP.get_or_init(|| {
        let find = |name: &std::ffi::CStr| {
            // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only
            // reads the process's symbol tables.
            let symbol = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
            (!symbol.is_null()).then_some(symbol)
        };
        let parallel = find(c"GOMP_parallel")?;
        let thread_num = find(c"omp_get_thread_num")?;
        let num_threads = find(c"omp_get_num_threads")?;
        // SAFETY: these are libgomp's documented C signatures.
        unsafe {
            Some(Gomp {
                parallel: std::mem::transmute::<*mut c_void, GompParallel>(parallel),
                thread_num: std::mem::transmute::<*mut c_void, OmpInt>(thread_num),
                num_threads: std::mem::transmute::<*mut c_void, OmpInt>(num_threads),
            })
        }
    })
    .as_ref()
}

struct Region<'a> {
    gomp: &'static Gomp,
    parts: usize,
    body: &'a (dyn Fn(usize) + Sync),
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

unsafe extern "C" fn run_region(data: *mut c_void) {
    // SAFETY: `data` is the `Region` that `for_each_part` passed to
    // GOMP_parallel, alive until GOMP_parallel returns.
    let region = unsafe { &*(data as *const Region) };
    // SAFETY: called inside the parallel region, as OpenMP requires.
    let (me, team) = unsafe {
        (
            (region.gomp.thread_num)().max(0) as usize,
            (region.gomp.num_threads)().max(1) as usize,
        )
    };
    // A panic must not unwind into C: keep the first and re-raise it after.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        for part in (me..region.parts).step_by(team) {
            (region.body)(part);
        }
    }));
    if let Err(payload) = outcome
        && let Ok(mut slot) = region.panic.lock()
    {
        slot.get_or_insert(payload);
    }
}

/// Calls `body(part)` for every `part` in `0..parts`, spread over libtorch's
/// intra-op threads (`tch::get_num_threads`); returns when all are done.
pub fn for_each_part(parts: usize, body: &(dyn Fn(usize) + Sync)) {
    let threads = tch::get_num_threads().max(1) as usize;
    let gomp = gomp().filter(|_| parts > 1 && threads > 1);
    let Some(gomp) = gomp else {
        (0..parts).for_each(body);
        return;
    };
    let region = Region {
        gomp,
        parts,
        body,
        panic: Mutex::new(None),
    };
    // SAFETY: `run_region` reads `region` only during this call.
    unsafe {
        (gomp.parallel)(
            run_region,
            &region as *const Region as *mut c_void,
            threads.min(parts) as u32,
            0,
        );
    }
    if let Some(payload) = region.panic.into_inner().ok().flatten() {
        std::panic::resume_unwind(payload);
    }
}

/// Above this many values an element-wise pass is split over the threads
/// (libtorch's own grain size for element-wise loops).
pub(crate) const PARALLEL_MIN_VALUES: usize = 1 << 15;

/// How many parts `work` units of work make, at least `min_work` each, at
/// most one per thread and one per unit.
pub(crate) fn parts_for(work: usize, min_work: usize, units: usize) -> usize {
    let threads = tch::get_num_threads().max(1) as usize;
    (work / min_work.max(1)).clamp(1, threads.min(units).max(1))
}

/// A fresh tensor's values, written by the parts in disjoint ranges.
struct SharedValues(*mut f32);

// SAFETY: the parts write disjoint ranges (see `fill_in_parts`).
unsafe impl Sync for SharedValues {}

impl SharedValues {
    fn at(&self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// What [`fill_in_parts`] calls for each part.
pub(crate) type PartBody<'a, E> = dyn Fn(usize, &mut [f32]) -> Result<(), E> + Sync + 'a;

/// Fills `out`, `units` units of `unit_len` values, in `parts` shares of
/// whole units on libtorch's threads: `body(first_unit, share)` writes the
/// share's values, or says why it cannot (the first such error is
/// returned, named after `what`).
///
/// `out` must be a dense CPU f32 tensor of `units · unit_len` values that
/// only the caller holds (just allocated): the parts write it in place.
pub(crate) fn fill_in_parts<E: std::fmt::Display>(
    what: &str,
    out: &tch::Tensor,
    (units, unit_len): (usize, usize),
    parts: usize,
    body: &PartBody<E>,
) -> crate::error::Result<()> {
    let fits = out.device() == tch::Device::Cpu
        && out.kind() == tch::Kind::Float
        && out.numel() == units * unit_len;
    if !fits {
        return Err(crate::NnError::input(
            what,
            format!(
                "output of {:?} {:?} is not {units} × {unit_len} CPU f32 values",
                out.kind(),
                out.size()
            ),
        ));
    }
    if units == 0 {
        return Ok(());
    }
    let values = SharedValues(out.data_ptr() as *mut f32);
    let failure = Mutex::new(None);
    let parts = parts.clamp(1, units);
    for_each_part(parts, &|part| {
        let (first, end) = (part * units / parts, (part + 1) * units / parts);
        // SAFETY: the parts' unit ranges are disjoint and inside `out`,
        // which holds `units · unit_len` values (checked above).
        let share = unsafe {
            std::slice::from_raw_parts_mut(values.at(first * unit_len), (end - first) * unit_len)
        };
        if let Err(e) = body(first, share)
            && let Ok(mut slot) = failure.lock()
        {
            slot.get_or_insert(e.to_string());
        }
    });
    match failure.into_inner().ok().flatten() {
        Some(message) => Err(crate::NnError::input(what, message)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn libgomp_is_found_in_a_libtorch_process() {
        // Any tensor op loads libtorch's libraries (already linked here).
        let _ = tch::Tensor::zeros([1], (tch::Kind::Float, tch::Device::Cpu));
        assert!(gomp().is_some());
    }

    #[test]
    fn every_part_runs_once() {
        let seen: Vec<AtomicUsize> = (0..37).map(|_| AtomicUsize::new(0)).collect();
        for_each_part(seen.len(), &|part| {
            seen[part].fetch_add(1, Ordering::Relaxed);
        });
        assert!(seen.iter().all(|count| count.load(Ordering::Relaxed) == 1));
    }

    #[test]
    fn a_panicking_part_is_raised_on_the_caller() {
        let outcome = catch_unwind(|| {
            for_each_part(4, &|part| {
                if part == 3 {
                    panic!("part 3 failed");
                }
            })
        });
        assert!(outcome.is_err());
    }
}
