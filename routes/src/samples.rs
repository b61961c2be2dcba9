//! The reference system's three sample routes, shipped inside the binary: what a fresh store is
//! filled with and what the simulator drives when a command names a route by id alone.

use std::path::Path;

use crate::{LatLng, route_file::parse_route};

/// A sample route.
#[derive(Clone, Debug)]
pub struct SampleRoute {
    pub id: &'static str,
    pub title: &'static str,
    pub points: Vec<LatLng>,
}

/// The sample routes, with the reference system's ids, titles and files.
const SAMPLES: [(&str, &str, &str, &str); 3] = [
    (
        "1",
        "Primeiro",
        "samples/1.txt",
        include_str!("../samples/1.txt"),
    ),
    (
        "2",
        "Segundo",
        "samples/2.txt",
        include_str!("../samples/2.txt"),
    ),
    (
        "3",
        "Terceiro",
        "samples/3.txt",
        include_str!("../samples/3.txt"),
    ),
];

/// The sample routes, parsed.
pub fn sample_routes() -> Vec<SampleRoute> {
    SAMPLES
        .iter()
        .map(|(id, title, file, text)| SampleRoute {
            id,
            title,
            // The shipped files are checked by a test; a failure here is a build defect.
            points: parse_route(Path::new(file), text).expect("sample route files are valid"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_samples_are_the_reference_files() {
        let routes = sample_routes();
        let ids: Vec<_> = routes.iter().map(|r| r.id).collect();
        assert_eq!(ids, ["1", "2", "3"]);
        assert_eq!(routes[0].points.len(), 219);
        assert_eq!(routes[1].points.len(), 40);
        assert_eq!(routes[2].points.len(), 265);
        assert_eq!(
            routes[0].points[0],
            LatLng {
                lat: -15.82594,
                lng: -47.92923
            }
        );
    }
}
