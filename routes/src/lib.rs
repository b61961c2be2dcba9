//! Routes as geometry, shared by the simulator (which drives them) and the api (which stores,
//! imports and measures them): a point on the globe ([`LatLng`]), a line through points with
//! distances and bearings ([`Polyline`]), the route-file format (one `lat,lng` per line) and the
//! reference system's sample routes.

mod point;
mod polyline;
pub mod route_file;
mod samples;

pub use point::{CoordinateError, LatLng};
pub use polyline::{Polyline, bearing_deg, distance_m};
pub use route_file::{RouteFileError, excerpt, parse_route, read_route_file};
pub use samples::{SampleRoute, sample_routes};
