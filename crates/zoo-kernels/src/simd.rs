//! Runtime choice of the widest SIMD instruction set for a kernel body.

/// Runs `$body` compiled for AVX-512 (16 lanes) or AVX2 + FMA (8 lanes)
/// when the CPU has them; the portable build otherwise.
macro_rules! with_best_simd {
    ($name:ident ($($arg:ident : $ty:ty),*) $body:block) => {
        fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn widest($($arg: $ty),*) {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn wide($($arg: $ty),*) {
                    body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the feature was just detected.
                    return unsafe { widest($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the features were just detected.
                    return unsafe { wide($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

/// The instruction sets a kernel has code for, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Simd {
    Portable,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    Avx2,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    Avx512,
}

#[cfg(test)]
thread_local! {
    /// Lets a test run the narrower code on a CPU with wider instructions.
    pub(crate) static WIDEST: std::cell::Cell<Simd> = const { std::cell::Cell::new(Simd::Avx512) };
}

/// The widest instruction set this CPU runs (and a test allows): AVX-512F,
/// or AVX2 with FMA, or the portable code.
pub(crate) fn best() -> Simd {
    #[cfg(test)]
    let widest = WIDEST.with(std::cell::Cell::get);
    #[cfg(not(test))]
    let widest = Simd::Avx512;
    #[cfg(target_arch = "x86_64")]
    {
        if widest >= Simd::Avx512 && std::arch::is_x86_feature_detected!("avx512f") {
            return Simd::Avx512;
        }
        if widest >= Simd::Avx2
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            return Simd::Avx2;
        }
    }
    let _ = widest;
    Simd::Portable
}
