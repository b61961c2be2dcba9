//! Distances, bearings and lines along points: great-circle geometry on a spherical Earth, precise
//! to well under a metre at city scale.

use crate::LatLng;

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

    pub fn points(&self) -> &[LatLng] {
        &self.points
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
}
