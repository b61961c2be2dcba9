//! The newest records of the keys someone tails on `route.new-position`, taken from the api's own
//! reader of the topic as they pass it. Following a ride then costs the broker one scan of the
//! ride's partition, when the tail starts, instead of one a second; while nobody tails, the reader
//! pays one atomic load per record.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use events::cluster::Record;
use rdkafka::Message;

/// Records kept per followed key: the most a tail returns.
pub const KEPT: usize = 200;
/// A key nobody asked for this long is no longer followed.
const FORGET_AFTER: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct KeyTap {
    /// Whether any key is followed; all the reader looks at while none is.
    active: AtomicBool,
    followed: Mutex<HashMap<String, Followed>>,
}

struct Followed {
    /// By offset (a key's records are all on one partition), oldest first.
    records: VecDeque<Record>,
    asked: Instant,
}

impl KeyTap {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Followed>> {
        self.followed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A record the reader just read: kept if its key is followed.
    pub fn observe(&self, message: &impl Message) {
        if !self.active.load(Ordering::Relaxed) {
            return;
        }
        let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) else {
            return;
        };
        if let Some(followed) = self.lock().get_mut(key) {
            followed.keep(std::iter::once(Record::of(message)));
        }
    }

    /// The newest `limit` records of `key` seen since it was first followed; `None` if it is not
    /// followed (then [`KeyTap::begin`] following it, and [`KeyTap::backfill`] what came before).
    pub fn follow(&self, key: &str, limit: usize) -> Option<Vec<Record>> {
        let mut followed = self.lock();
        followed.retain(|_, f| f.asked.elapsed() < FORGET_AFTER);
        self.active.store(!followed.is_empty(), Ordering::Relaxed);
        let f = followed.get_mut(key)?;
        f.asked = Instant::now();
        let skip = f.records.len().saturating_sub(limit);
        Some(f.records.iter().skip(skip).cloned().collect())
    }

    /// Follows `key` from now on: the reader keeps its records as they pass.
    pub fn begin(&self, key: &str) {
        let mut followed = self.lock();
        followed.entry(key.to_owned()).or_insert_with(|| Followed {
            records: VecDeque::new(),
            asked: Instant::now(),
        });
        self.active.store(true, Ordering::Relaxed);
    }

    /// Adds the records of `key` a scan found (read after it was followed, so nothing falls
    /// between the scan and the reader).
    pub fn backfill(&self, key: &str, records: Vec<Record>) {
        if let Some(followed) = self.lock().get_mut(key) {
            followed.keep(records);
        }
    }
}

impl Followed {
    fn keep(&mut self, records: impl IntoIterator<Item = Record>) {
        for record in records {
            let at = (record.partition, record.offset);
            match self
                .records
                .binary_search_by_key(&at, |r| (r.partition, r.offset))
            {
                Ok(_) => {} // both the scan and the reader saw it
                Err(i) => self.records.insert(i, record),
            }
        }
        while self.records.len() > KEPT {
            self.records.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(offset: i64) -> Record {
        Record {
            partition: 2,
            offset,
            key: Some("ride".into()),
            timestamp: None,
            headers: Vec::new(),
            value: serde_json::Value::Null,
        }
    }

    fn offsets(records: &[Record]) -> Vec<i64> {
        records.iter().map(|r| r.offset).collect()
    }

    #[test]
    fn a_followed_key_keeps_the_scan_and_the_reader_once_each_in_offset_order() {
        let tap = KeyTap::default();
        assert!(tap.follow("ride", 50).is_none(), "not followed before");
        assert!(
            !tap.active.load(Ordering::Relaxed),
            "asking follows nothing"
        );
        tap.begin("ride");
        assert!(tap.active.load(Ordering::Relaxed));
        // The reader passes 11 and 12 while the scan, which reads up to 12, finds 3, 7 and 11.
        tap.lock()
            .get_mut("ride")
            .unwrap()
            .keep([record(11), record(12)]);
        tap.backfill("ride", vec![record(3), record(7), record(11)]);
        assert_eq!(offsets(&tap.follow("ride", 50).unwrap()), [3, 7, 11, 12]);
        assert_eq!(offsets(&tap.follow("ride", 2).unwrap()), [11, 12]);
        tap.backfill("other", vec![record(1)]);
        assert!(
            tap.follow("other", 50).is_none(),
            "a backfill does not follow a key"
        );
    }

    #[test]
    fn only_the_newest_are_kept() {
        let tap = KeyTap::default();
        tap.begin("ride");
        tap.backfill("ride", (0..KEPT as i64 + 10).map(record).collect());
        let kept = tap.follow("ride", KEPT).unwrap();
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0].offset, 10);
    }
}
