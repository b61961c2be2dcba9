//! A route of the catalogue: its id, its title (unique regardless of case) and its points, with
//! what listings show about it (its ends and length).

use routes::{LatLng, Polyline};
use serde::{Deserialize, Serialize};

/// A route: an id, a title and its points (at least two). Times are milliseconds since the epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    pub id: String,
    pub title: String,
    pub points: Vec<LatLng>,
    /// Absent in stores written before routes could be edited.
    #[serde(default)]
    pub created_at: i64,
    #[serde(default)]
    pub updated_at: i64,
}

impl Route {
    /// Titles are unique regardless of case and surrounding spaces.
    pub fn title_key(&self) -> String {
        title_key(&self.title)
    }

    /// The first and last points (stores only hold routes of at least two).
    pub fn ends(&self) -> (LatLng, LatLng) {
        (self.points[0], self.points[self.points.len() - 1])
    }

    /// Length along the points, in whole metres.
    pub fn length_m(&self) -> f64 {
        Polyline::new(self.points.clone()).length_m().round()
    }
}

pub fn title_key(title: &str) -> String {
    title.trim().to_lowercase()
}
