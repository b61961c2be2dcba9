//! A point on the globe.

use serde::{Deserialize, Serialize};

/// A point as browsers and the REST API see it: `{"lat":…,"lng":…}`. Kafka messages carry the
/// same point as `[lng, lat]` ([`LatLng::from_lng_lat`], [`LatLng::to_lng_lat`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LatLng {
    #[schema(minimum = -90, maximum = 90)]
    pub lat: f64,
    #[schema(minimum = -180, maximum = 180)]
    pub lng: f64,
}

/// A coordinate outside the globe (or NaN), naming which one.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum CoordinateError {
    #[error("latitude {0} is outside -90..90")]
    Latitude(f64),
    #[error("longitude {0} is outside -180..180")]
    Longitude(f64),
}

impl CoordinateError {
    /// The field at fault, as the JSON shape names it: `lat` or `lng`.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Latitude(_) => "lat",
            Self::Longitude(_) => "lng",
        }
    }
}

impl LatLng {
    /// Builds a point, refusing coordinates outside the globe (or NaN).
    pub fn new(lat: f64, lng: f64) -> Result<Self, CoordinateError> {
        if !(-90.0..=90.0).contains(&lat) {
            return Err(CoordinateError::Latitude(lat));
        }
        if !(-180.0..=180.0).contains(&lng) {
            return Err(CoordinateError::Longitude(lng));
        }
        Ok(Self { lat, lng })
    }

    /// From the wire's `[lng, lat]` order.
    pub fn from_lng_lat([lng, lat]: [f64; 2]) -> Result<Self, CoordinateError> {
        Self::new(lat, lng)
    }

    /// To the wire's `[lng, lat]` order.
    pub fn to_lng_lat(self) -> [f64; 2] {
        [self.lng, self.lat]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_points_off_the_globe_naming_the_coordinate() {
        assert_eq!(LatLng::new(95.0, 0.0), Err(CoordinateError::Latitude(95.0)));
        let err = LatLng::from_lng_lat([200.0, 0.0]).unwrap_err();
        assert_eq!(
            (err.field(), err.to_string().as_str()),
            ("lng", "longitude 200 is outside -180..180")
        );
        assert_eq!(LatLng::new(f64::NAN, 0.0).unwrap_err().field(), "lat");
        assert_eq!(
            LatLng::from_lng_lat([-47.9, -15.8]).unwrap().to_lng_lat(),
            [-47.9, -15.8]
        );
    }
}
