//! The speed model: a vehicle moves along a route's polyline at a steady speed, sampled once per tick.
//!
//! The reference system jumped from one route point to the next every 500 ms, so a vehicle's speed
//! depended on how densely the route was drawn. Here the distance per tick is `speed × tick`, and the
//! position is interpolated along the polyline, so every route is driven at the speed asked for.

use std::time::Duration;

use events::LatLng;

const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres.
pub fn distance_m(a: LatLng, b: LatLng) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlng = (b.lng - a.lng).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlng / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().asin()
}

/// Initial compass bearing from `a` to `b` in degrees: 0 = north, 90 = east.
pub fn bearing_deg(a: LatLng, b: LatLng) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlng = (b.lng - a.lng).to_radians();
    let y = dlng.sin() * lat2.cos();
    let x = lat1.cos() * lat2.sin() - lat1.sin() * lat2.cos() * dlng.cos();
    (y.atan2(x).to_degrees() + 360.0) % 360.0
}

/// A route's geometry with the distance from the start to each point.
#[derive(Clone, Debug)]
pub struct Polyline {
    points: Vec<LatLng>,
    /// `along[i]` is the distance in metres from `points[0]` to `points[i]`.
    along: Vec<f64>,
}

impl Polyline {
    /// `points` must hold at least one point.
    pub fn new(points: Vec<LatLng>) -> Self {
        let mut along = Vec::with_capacity(points.len());
        let mut total = 0.0;
        for (i, point) in points.iter().enumerate() {
            if i > 0 {
                total += distance_m(points[i - 1], *point);
            }
            along.push(total);
        }
        Self { points, along }
    }

    pub fn length_m(&self) -> f64 {
        self.along.last().copied().unwrap_or(0.0)
    }

    /// The point `d` metres along the line (clamped to its ends) and the heading there.
    pub fn at(&self, d: f64) -> (LatLng, f64) {
        let d = d.clamp(0.0, self.length_m());
        // The segment [i, i+1] that contains d; a zero-length segment is skipped naturally.
        let i = self
            .along
            .partition_point(|&x| x <= d)
            .saturating_sub(1)
            .min(self.points.len().saturating_sub(2));
        let (a, b) = (
            self.points[i],
            self.points[(i + 1).min(self.points.len() - 1)],
        );
        let segment = self.along[(i + 1).min(self.along.len() - 1)] - self.along[i];
        let t = if segment > 0.0 {
            (d - self.along[i]) / segment
        } else {
            0.0
        };
        let point = LatLng {
            lat: a.lat + (b.lat - a.lat) * t,
            lng: a.lng + (b.lng - a.lng) * t,
        };
        (point, bearing_deg(a, b))
    }

    /// Shortest distance in metres from `p` to the line (for checks; flat-earth per segment).
    pub fn distance_to(&self, p: LatLng) -> f64 {
        self.points
            .windows(2)
            .map(|w| {
                let (a, b) = (w[0], w[1]);
                let (dx, dy) = (b.lng - a.lng, b.lat - a.lat);
                let len2 = dx * dx + dy * dy;
                let t = if len2 > 0.0 {
                    (((p.lng - a.lng) * dx + (p.lat - a.lat) * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                distance_m(
                    p,
                    LatLng {
                        lat: a.lat + dy * t,
                        lng: a.lng + dx * t,
                    },
                )
            })
            .fold(f64::INFINITY, f64::min)
    }
}

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

/// The samples of one drive: the start, one per tick, and the end with `finished`.
#[derive(Clone, Debug)]
pub struct Drive {
    line: Polyline,
    step_m: f64,
    next_seq: u64,
    done: bool,
}

impl Drive {
    pub fn new(line: Polyline, speed_kmh: f64, tick: Duration) -> Self {
        let step_m = speed_kmh / 3.6 * tick.as_secs_f64();
        Self {
            line,
            step_m,
            next_seq: 0,
            done: false,
        }
    }

    pub fn line(&self) -> &Polyline {
        &self.line
    }
}

impl Iterator for Drive {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        if self.done {
            return None;
        }
        let length = self.line.length_m();
        let distance = (self.next_seq as f64 * self.step_m).min(length);
        let finished = distance >= length;
        let (position, heading) = self.line.at(distance);
        let sample = Sample {
            seq: self.next_seq,
            position,
            heading,
            distance_m: distance,
            progress: if length > 0.0 { distance / length } else { 1.0 },
            finished,
        };
        self.next_seq += 1;
        self.done = finished;
        Some(sample)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(lat: f64, lng: f64) -> LatLng {
        LatLng { lat, lng }
    }

    #[test]
    fn distance_and_bearing_are_geographic() {
        // One degree of latitude is about 111.2 km.
        let d = distance_m(p(0.0, 0.0), p(1.0, 0.0));
        assert!((d - 111_195.0).abs() < 10.0, "{d}");
        assert!((bearing_deg(p(0.0, 0.0), p(1.0, 0.0)) - 0.0).abs() < 1e-9);
        assert!((bearing_deg(p(0.0, 0.0), p(0.0, 1.0)) - 90.0).abs() < 1e-9);
        assert!((bearing_deg(p(0.0, 0.0), p(-1.0, 0.0)) - 180.0).abs() < 1e-9);
        assert!((bearing_deg(p(0.0, 0.0), p(0.0, -1.0)) - 270.0).abs() < 1e-9);
    }

    #[test]
    fn drives_at_the_asked_speed_and_ends_on_the_last_point() {
        // Two legs: 1.112 km north, then 1.112 km east (at the equator).
        let line = Polyline::new(vec![p(0.0, 0.0), p(0.01, 0.0), p(0.01, 0.01)]);
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
    fn a_degenerate_route_finishes_at_once() {
        let line = Polyline::new(vec![p(1.0, 1.0), p(1.0, 1.0)]);
        let samples: Vec<_> = Drive::new(line, 30.0, Duration::from_millis(500)).collect();
        assert_eq!(samples.len(), 1);
        assert!(samples[0].finished);
    }
}
