//! Which command offsets are safe to commit.
//!
//! A ride lasts minutes and rides finish out of order, so committing a command's offset when its ride
//! starts would lose the ride if the process died, and committing when it finishes could skip a
//! longer ride still running. The safe offset of a partition is the lowest one still driving (or one
//! past the highest seen): after a crash every unfinished ride is driven again from its start.

use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<i32, Partition>,
}

#[derive(Debug, Default)]
struct Partition {
    running: BTreeSet<i64>,
    next: i64,
}

impl Partition {
    fn committable(&self) -> i64 {
        self.running.first().copied().unwrap_or(self.next)
    }
}

impl OffsetTracker {
    /// A command at `offset` started a ride.
    pub fn start(&mut self, partition: i32, offset: i64) {
        let p = self.partitions.entry(partition).or_default();
        p.running.insert(offset);
        p.next = p.next.max(offset + 1);
    }

    /// The ride of `offset` is done (or the command was unusable); returns the partition's new
    /// committable offset if it moved.
    pub fn finish(&mut self, partition: i32, offset: i64) -> Option<i64> {
        let p = self.partitions.entry(partition).or_default();
        let before = p.committable();
        p.running.remove(&offset);
        p.next = p.next.max(offset + 1);
        let after = p.committable();
        (after > before).then_some(after)
    }

    /// The partition went to another consumer: whatever was tracked for it is its business now.
    pub fn forget(&mut self, partition: i32) {
        self.partitions.remove(&partition);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_only_below_the_oldest_running_ride() {
        let mut t = OffsetTracker::default();
        t.start(0, 10);
        t.start(0, 11);
        t.start(0, 12);
        assert_eq!(t.finish(0, 11), None, "10 still runs");
        assert_eq!(t.finish(0, 10), Some(12), "12 still runs");
        assert_eq!(t.finish(0, 12), Some(13));
    }

    #[test]
    fn a_forgotten_partition_starts_over() {
        let mut t = OffsetTracker::default();
        t.start(0, 10);
        t.forget(0);
        assert_eq!(t.finish(0, 20), Some(21), "10 no longer holds it back");
    }

    #[test]
    fn an_unusable_command_moves_the_offset_at_once() {
        let mut t = OffsetTracker::default();
        assert_eq!(t.finish(3, 7), Some(8));
        t.start(1, 0);
        assert_eq!(t.finish(3, 8), Some(9), "partitions are independent");
    }
}
