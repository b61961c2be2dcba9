//! The speed model: a vehicle moves along a route's polyline at a steady speed, sampled once per tick.
//!
//! The reference system jumped from one route point to the next every 500 ms, so a vehicle's speed
//! depended on how densely the route was drawn. Here the distance per tick is `speed × tick`, and the
//! position is interpolated along the polyline, so every route is driven at the speed asked for.

use std::{sync::Arc, time::Duration};

use routes::{LatLng, Polyline};

/// One sample of a drive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub seq: u64,
    pub position: LatLng,
    pub heading: f64,
    pub distance_m: f64,
    pub progress: f64,
    pub finished: bool,
}

/// The samples of one drive: the start, one per tick, and the end with `finished`. A drive resumed
/// after a position carries on from that position's seq and distance. The line is shared: cloning a
/// drive, and driving many rides on one route, copies no geometry.
#[derive(Clone, Debug)]
pub struct Drive {
    line: Arc<Polyline>,
    step_m: f64,
    /// The sample the drive goes on from: seq 0 at the start, or the position resumed after.
    from_seq: u64,
    from_m: f64,
    resumed: bool,
    next_seq: u64,
    done: bool,
}

impl Drive {
    pub fn new(line: Arc<Polyline>, speed_kmh: f64, tick: Duration) -> Self {
        let step_m = speed_kmh / 3.6 * tick.as_secs_f64();
        Self {
            line,
            step_m,
            from_seq: 0,
            from_m: 0.0,
            resumed: false,
            next_seq: 0,
            done: false,
        }
    }

    /// The same drive, going on one step after the position `seq` at `distance_m`: its next
    /// sample is `seq + 1`, one step further along (the tick may differ from the first drive's).
    pub fn resumed_after(self, seq: u64, distance_m: f64) -> Self {
        Self {
            from_seq: seq,
            from_m: distance_m,
            resumed: true,
            next_seq: seq + 1,
            ..self
        }
    }

    /// The position resumed after, if this drive is a resumed one.
    pub fn resumed_at(&self) -> Option<Sample> {
        self.resumed.then(|| self.sample(self.from_seq))
    }

    pub fn line(&self) -> &Polyline {
        &self.line
    }

    fn sample(&self, seq: u64) -> Sample {
        let length = self.line.length_m();
        let distance = (self.from_m + (seq - self.from_seq) as f64 * self.step_m).min(length);
        let (position, heading) = self.line.at(distance);
        Sample {
            seq,
            position,
            heading,
            distance_m: distance,
            progress: if length > 0.0 { distance / length } else { 1.0 },
            finished: distance >= length,
        }
    }
}

impl Iterator for Drive {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        if self.done {
            return None;
        }
        let sample = self.sample(self.next_seq);
        self.next_seq += 1;
        self.done = sample.finished;
        Some(sample)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routes::distance_m;

    fn p(lat: f64, lng: f64) -> LatLng {
        LatLng { lat, lng }
    }

    #[test]
    fn drives_at_the_asked_speed_and_ends_on_the_last_point() {
        // Two legs: 1.112 km north, then 1.112 km east (at the equator).
        let line = Arc::new(Polyline::new(vec![
            p(0.0, 0.0),
            p(0.01, 0.0),
            p(0.01, 0.01),
        ]));
        let length = line.length_m();
        // 36 km/h = 10 m/s; a tick of 1 s moves 10 m.
        let samples: Vec<_> = Drive::new(line.clone(), 36.0, Duration::from_secs(1)).collect();
        assert_eq!(samples[0].position, p(0.0, 0.0));
        assert_eq!(samples[0].seq, 0);
        assert!((samples[1].distance_m - 10.0).abs() < 1e-9);
        assert_eq!(samples.len(), (length / 10.0).ceil() as usize + 1);
        let last = samples.last().unwrap();
        assert!(last.finished && last.progress == 1.0);
        assert!(distance_m(last.position, p(0.01, 0.01)) < 1e-6);
        assert_eq!(samples.iter().filter(|s| s.finished).count(), 1);
        // Every sample lies on the line and headings follow the legs.
        for s in &samples {
            assert!(line.distance_to(s.position) < 0.01, "{s:?}");
        }
        assert!((samples[5].heading - 0.0).abs() < 1e-6);
        assert!((samples[samples.len() - 5].heading - 90.0).abs() < 0.01);
    }

    #[test]
    fn a_resumed_drive_goes_on_from_the_position_it_resumes_after() {
        let line = Arc::new(Polyline::new(vec![
            p(0.0, 0.0),
            p(0.01, 0.0),
            p(0.01, 0.01),
        ]));
        let whole: Vec<_> = Drive::new(line.clone(), 36.0, Duration::from_secs(1)).collect();
        let after = whole[40];
        let resumed = Drive::new(line.clone(), 36.0, Duration::from_secs(1))
            .resumed_after(after.seq, after.distance_m);
        assert_eq!(resumed.resumed_at(), Some(after));
        let rest: Vec<_> = resumed.collect();
        assert_eq!(rest.len(), whole.len() - 41, "the rest of the drive");
        for (resumed, first) in rest.iter().zip(&whole[41..]) {
            assert_eq!((resumed.seq, resumed.finished), (first.seq, first.finished));
            assert!((resumed.distance_m - first.distance_m).abs() < 1e-9);
        }
        // With another tick: the same place, then steps of the new length.
        let mut resumed = Drive::new(line, 36.0, Duration::from_millis(500))
            .resumed_after(after.seq, after.distance_m);
        let next = resumed.next().unwrap();
        assert_eq!(next.seq, after.seq + 1);
        assert!((next.distance_m - after.distance_m - 5.0).abs() < 1e-9);
        assert!(
            Drive::new(
                Arc::new(Polyline::new(vec![p(0.0, 0.0), p(0.0, 1.0)])),
                36.0,
                Duration::from_secs(1)
            )
            .resumed_at()
            .is_none()
        );
    }

    #[test]
    fn a_degenerate_route_finishes_at_once() {
        let line = Arc::new(Polyline::new(vec![p(1.0, 1.0), p(1.0, 1.0)]));
        let samples: Vec<_> = Drive::new(line, 30.0, Duration::from_millis(500)).collect();
        assert_eq!(samples.len(), 1);
        assert!(samples[0].finished);
    }
}
