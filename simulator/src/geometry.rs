//! Route geometry shared by the rides driving it: ten thousand rides on a handful of routes hold a
//! handful of lines, not ten thousand copies. Every command still carries (or names) its own
//! geometry; two commands share a line only when their points are equal.

use std::{
    collections::HashMap,
    hash::{DefaultHasher, Hash, Hasher},
    sync::{Arc, Weak},
};

use routes::{LatLng, Polyline};

/// Entries kept before the first sweep of lines no ride drives any more.
const FIRST_SWEEP: usize = 64;

/// Lines in use, by a hash of their points. Holds them weakly: a line goes with its last ride.
#[derive(Default)]
pub(crate) struct Geometries {
    lines: HashMap<u64, Weak<Polyline>>,
    /// Entries left after the last sweep; the next sweep comes at twice as many.
    swept_to: usize,
}

impl Geometries {
    /// The line through `points`: one already driven by a running ride, or a new one.
    pub(crate) fn line(&mut self, points: Vec<LatLng>) -> Arc<Polyline> {
        let key = hash(&points);
        if let Some(line) = self.lines.get(&key).and_then(Weak::upgrade)
            && line.points() == points.as_slice()
        {
            return line;
        }
        // New, or a different line with the same hash: that one's rides keep theirs.
        let line = Arc::new(Polyline::new(points));
        self.lines.insert(key, Arc::downgrade(&line));
        if self.lines.len() >= 2 * self.swept_to.max(FIRST_SWEEP) {
            self.lines.retain(|_, line| line.strong_count() > 0);
            self.swept_to = self.lines.len();
        }
        line
    }
}

fn hash(points: &[LatLng]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for p in points {
        (p.lat.to_bits(), p.lng.to_bits()).hash(&mut hasher);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(lng: f64) -> Vec<LatLng> {
        vec![LatLng { lat: 0.0, lng }, LatLng { lat: 0.01, lng }]
    }

    #[test]
    fn equal_points_share_one_line_and_a_line_goes_with_its_last_ride() {
        let mut geometries = Geometries::default();
        let a = geometries.line(points(0.0));
        let again = geometries.line(points(0.0));
        assert!(Arc::ptr_eq(&a, &again), "the same route is one line");
        let other = geometries.line(points(0.5));
        assert!(!Arc::ptr_eq(&a, &other), "another route is another line");
        assert_eq!(other.points(), points(0.5).as_slice());

        drop((a, again));
        let weak = Arc::downgrade(&geometries.line(points(0.0)));
        assert_eq!(weak.strong_count(), 0, "nothing keeps a line nobody drives");
    }

    #[test]
    fn lines_nobody_drives_are_swept() {
        let mut geometries = Geometries::default();
        let kept = geometries.line(points(-1.0));
        for i in 0..10 * FIRST_SWEEP {
            geometries.line(points(i as f64 / 1000.0));
        }
        assert!(
            geometries.lines.len() <= 2 * FIRST_SWEEP,
            "{} entries",
            geometries.lines.len()
        );
        assert!(Arc::ptr_eq(&kept, &geometries.line(points(-1.0))));
    }
}
