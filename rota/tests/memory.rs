//! The allocator tuning of `rota::memory`, in a test binary of its own: it reads process-wide
//! allocator statistics, which other tests running beside it would move.
#![cfg(target_env = "gnu")]

/// Blocks served by their own mappings right now.
fn mapped_blocks() -> usize {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    unsafe { libc::mallinfo2() }.hblks
}

#[test]
fn a_big_block_gets_its_own_mapping_even_after_a_bigger_one_was_freed() {
    rota::memory::tune();
    // Untuned, freeing this would raise the threshold to 4 MiB.
    drop(std::hint::black_box(vec![1u8; 4 << 20]));
    let before = mapped_blocks();
    let big = std::hint::black_box(vec![1u8; 512 << 10]);
    assert_eq!(mapped_blocks(), before + 1, "512 KiB came from an arena");
    drop(big);
    assert_eq!(mapped_blocks(), before, "and went back to the system");
}
