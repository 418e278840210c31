//! A spinning barrier for the kernels' few threads: a step is tens of
//! microseconds, so waking threads through the OS (std's `Barrier`) would
//! cost more than the wait itself.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

pub struct SpinBarrier {
    parties: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
    /// Set when a party panicked, so that the others stop waiting for it.
    broken: AtomicBool,
}

/// Marks the barrier broken if its thread unwinds.
pub struct BreakOnPanic<'a>(pub &'a SpinBarrier);

impl Drop for BreakOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.broken.store(true, Ordering::Release);
        }
    }
}

impl SpinBarrier {
    pub fn new(parties: usize) -> Self {
        SpinBarrier {
            parties,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            broken: AtomicBool::new(false),
        }
    }

    /// Returns once all parties have called `wait`; everything a party wrote
    /// before is visible to every party after (release/acquire on
    /// `generation`).
    pub fn wait(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.parties {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.store(generation + 1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == generation {
            if self.broken.load(Ordering::Acquire) {
                panic!("another kernel thread panicked");
            }
            spins += 1;
            if spins < 1 << 16 {
                std::hint::spin_loop();
            } else {
                // More threads than cores: let the late party run.
                std::thread::yield_now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_party_sees_the_others_writes() {
        let barrier = SpinBarrier::new(3);
        let slots: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
        std::thread::scope(|s| {
            for me in 0..3 {
                let (barrier, slots) = (&barrier, &slots);
                s.spawn(move || {
                    for round in 1..200 {
                        slots[me].store(round, Ordering::Relaxed);
                        barrier.wait();
                        for slot in slots {
                            assert_eq!(slot.load(Ordering::Relaxed), round);
                        }
                        barrier.wait();
                    }
                });
            }
        });
    }

    #[test]
    fn a_panicking_party_releases_the_others() {
        let barrier = SpinBarrier::new(2);
        let result = std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let _guard = BreakOnPanic(&barrier);
                barrier.wait();
            });
            let failing = s.spawn(|| {
                let _guard = BreakOnPanic(&barrier);
                panic!("worker failed");
            });
            (waiter.join().is_err(), failing.join().is_err())
        });
        assert_eq!(result, (true, true));
    }
}
