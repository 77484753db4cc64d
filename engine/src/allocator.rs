//! How the process's allocator treats the large buffers the CPU path frees every layer.
//!
//! A segmentation allocates and frees tens of megabytes per convolution and norm. glibc's
//! `malloc` serves blocks above its mmap threshold (at most 32 MB, adapting) with fresh `mmap`s
//! and returns them on `free`, so every layer pays page faults and the kernel zeroing the pages
//! again: on the 2-core development machine a whole-study segmentation on the CPU took 13.5 s
//! without the setting and 10.2 s with it (docs/conv3d.md, "The CPU path").
//! [`keep_freed_memory`] raises the mmap and trim thresholds so freed blocks stay in the heap
//! for the next layer; the peak resident memory is unchanged, it is just not handed back
//! between layers.
//!
//! It also keeps every thread on the one main heap. Threads other than the main one (rayon's
//! workers, the training loader's) otherwise get arenas of their own, whose 64 MB sub-heaps
//! glibc unmaps as soon as they fall empty, whatever the trim threshold. Measured in one run,
//! alternating (docs/measurements/allocator-arenas-2026-12-07): a 21-iteration `desktop`
//! training on the CPU took 618,000–816,000 page faults with arenas against 66,000 on one heap,
//! peaked at 296–345 against 257–259 MB, and its median step took 0.38–0.46 against
//! 0.29–0.39 s; a whole-study segmentation was no slower but peaked 50 MB higher (497 against
//! 448 MB).

/// Keep freed blocks of up to 1 GiB for reuse instead of returning them to the system, on one
/// heap shared by all threads (glibc on Linux; elsewhere the platform allocator is left as it
/// is). Call once at start-up, before any other thread starts.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const GIB: libc::c_int = 1 << 30;
        // SAFETY: mallopt only sets allocator parameters; called before any worker threads.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, GIB);
            libc::mallopt(libc::M_TRIM_THRESHOLD, GIB);
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}
