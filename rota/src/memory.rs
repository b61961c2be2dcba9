//! The process's allocator, tuned for a long run with big transient buffers.
//!
//! glibc serves a block of at least its mmap threshold (128 KiB) with its own mapping, returned to
//! the system when freed, but raises the threshold to the size of each such block freed. After the
//! first broker fetch answers and fleet frames, blocks of hundreds of KiB then come from the
//! per-thread arenas, and a thread's arena keeps what they freed. Pinning the threshold keeps big
//! buffers in mappings of their own: at 10,000 rides the process peaks about 90 MiB lower, as fast
//! (README, Benchmark).

/// glibc's own starting value; set explicitly, it is no longer raised.
#[cfg(target_env = "gnu")]
const MMAP_THRESHOLD: libc::c_int = 128 << 10;

/// Call first thing in `main`.
pub fn tune() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter; any value is valid to pass.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}
