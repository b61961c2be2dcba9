//! Reading a route from a request body: Rota's JSON, a GeoJSON LineString, a GPX track or route,
//! or a route file (`lat,lng` per line). Every error names the field, element or line at fault.

use routes::{LatLng, excerpt};
use serde_json::{Value, json};

use crate::error::ApiError;

/// Longest title accepted, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Most points a route may have (a long GPX track at one point per second is about 20,000).
pub const MAX_POINTS: usize = 100_000;

/// A route as a client sent it, checked; as `application/json`, this shape.
#[derive(Debug, PartialEq, utoipa::ToSchema)]
pub struct RouteInput {
    /// Unique, compared without case or outer spaces.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub title: String,
    #[schema(min_items = 2, max_items = 100_000)]
    pub points: Vec<LatLng>,
}

/// The body formats `POST /api/routes` accepts, by content type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Format {
    Json,
    GeoJson,
    Gpx,
    RouteFile,
}

impl Format {
    /// The format for a `Content-Type` (parameters such as `charset` ignored).
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next()?.trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => Some(Self::Json),
            "application/geo+json" | "application/vnd.geo+json" => Some(Self::GeoJson),
            "application/gpx+xml" | "application/gpx" => Some(Self::Gpx),
            "text/plain" | "text/csv" => Some(Self::RouteFile),
            _ => None,
        }
    }
}

pub const ACCEPTED_TYPES: &str =
    "application/json, application/geo+json, application/gpx+xml or text/plain (a route file)";

fn invalid(field: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("{field}: {reason}")).with_detail(json!({ "field": field }))
}

/// Parses and checks a body. `title` (from `?title=`) wins over a title inside the body; formats
/// that carry none (route files) need it.
pub fn parse(format: Format, body: &[u8], title: Option<&str>) -> Result<RouteInput, ApiError> {
    let text =
        std::str::from_utf8(body).map_err(|e| invalid("body", format!("not UTF-8 ({e})")))?;
    let (found_title, points) = match format {
        Format::Json => {
            let value = json_body(text)?;
            (json_title(&value)?, json_points(&value)?)
        }
        Format::GeoJson => geojson(&json_body(text)?)?,
        Format::Gpx => gpx(text)?,
        Format::RouteFile => {
            let points =
                routes::parse_route("body".as_ref(), text).map_err(|e| invalid("body", e))?;
            (None, points)
        }
    };
    let title = title.map(str::to_owned).or(found_title);
    let title = check_title(title.as_deref())?;
    check_points(&points)?;
    Ok(RouteInput { title, points })
}

/// Imports parsed at once. Each parses on a blocking thread, never on an async worker, so a big
/// file delays no one else's request or ride; a burst of them waits its turn here instead of
/// taking every core.
static PARSING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// [`parse`], off the async workers.
pub async fn parse_off_workers(
    format: Format,
    body: axum::body::Bytes,
    title: Option<String>,
) -> Result<RouteInput, ApiError> {
    let _turn = PARSING
        .acquire()
        .await
        .expect("the semaphore is never closed");
    tokio::task::spawn_blocking(move || parse(format, &body, title.as_deref()))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

fn json_body(text: &str) -> Result<Value, ApiError> {
    serde_json::from_str(text).map_err(|e| invalid("body", format!("not valid JSON: {e}")))
}

fn check_title(title: Option<&str>) -> Result<String, ApiError> {
    let title = title.map(str::trim).unwrap_or_default();
    if title.is_empty() {
        return Err(invalid("title", "a route needs a non-empty title"));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(invalid(
            "title",
            format!("longer than {MAX_TITLE_CHARS} characters"),
        ));
    }
    Ok(title.to_owned())
}

fn check_points(points: &[LatLng]) -> Result<(), ApiError> {
    check_count(points.len())?;
    if points.len() < 2 {
        return Err(invalid(
            "points",
            format!("a route needs at least 2 points, got {}", points.len()),
        ));
    }
    Ok(())
}

/// Refuses more than [`MAX_POINTS`] points, before they are read one by one.
fn check_count(count: usize) -> Result<(), ApiError> {
    if count > MAX_POINTS {
        return Err(invalid(
            "points",
            format!("a route may have at most {MAX_POINTS} points, got {count}"),
        ));
    }
    Ok(())
}

fn json_title(body: &Value) -> Result<Option<String>, ApiError> {
    match body.get("title") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(title)) => Ok(Some(title.clone())),
        Some(other) => Err(invalid(
            "title",
            format!("must be a string, got {}", excerpt(&other.to_string())),
        )),
    }
}

/// Rota's JSON: `{"title": "...", "points": [{"lat": .., "lng": ..}, ...]}`.
fn json_points(body: &Value) -> Result<Vec<LatLng>, ApiError> {
    if !body.is_object() {
        return Err(invalid(
            "body",
            "must be a JSON object with title and points",
        ));
    }
    let points = match body.get("points") {
        Some(Value::Array(points)) => points,
        None | Some(Value::Null) => return Err(invalid("points", "missing")),
        Some(other) => {
            return Err(invalid(
                "points",
                format!("must be an array, got {}", excerpt(&other.to_string())),
            ));
        }
    };
    check_count(points.len())?;
    points
        .iter()
        .enumerate()
        .map(|(i, point)| {
            let number = |name: &str| {
                point.get(name).and_then(Value::as_f64).ok_or_else(|| {
                    invalid(&format!("points[{i}].{name}"), "missing or not a number")
                })
            };
            let (lat, lng) = (number("lat")?, number("lng")?);
            LatLng::new(lat, lng).map_err(|e| invalid(&format!("points[{i}].{}", e.field()), e))
        })
        .collect()
}

/// A GeoJSON LineString: bare, as a Feature's geometry, or the first LineString feature of a
/// FeatureCollection. The title comes from the feature's `title` or `name` property.
fn geojson(value: &Value) -> Result<(Option<String>, Vec<LatLng>), ApiError> {
    let kind = |v: &Value| v.get("type").and_then(Value::as_str).map(str::to_owned);
    match kind(value).as_deref() {
        Some("LineString") => Ok((None, line_string(value, "coordinates")?)),
        Some("Feature") => feature(value, "geometry"),
        Some("FeatureCollection") => {
            let features = value
                .get("features")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid("features", "missing or not an array"))?;
            let index = features
                .iter()
                .position(|f| {
                    f.pointer("/geometry/type").and_then(Value::as_str) == Some("LineString")
                })
                .ok_or_else(|| invalid("features", "no feature has a LineString geometry"))?;
            feature(&features[index], &format!("features[{index}].geometry"))
        }
        Some(other) => Err(invalid(
            "type",
            format!(
                "expected LineString, Feature or FeatureCollection, got {:?}",
                excerpt(other)
            ),
        )),
        None => Err(invalid("type", "missing: not a GeoJSON object")),
    }
}

fn feature(feature: &Value, path: &str) -> Result<(Option<String>, Vec<LatLng>), ApiError> {
    let geometry = feature
        .get("geometry")
        .filter(|g| g.get("type").and_then(Value::as_str) == Some("LineString"))
        .ok_or_else(|| invalid(path, "must be a LineString geometry"))?;
    let properties = feature.get("properties");
    let title = ["title", "name"]
        .iter()
        .find_map(|key| properties?.get(key)?.as_str())
        .map(str::to_owned);
    Ok((
        title,
        line_string(geometry, &format!("{path}.coordinates"))?,
    ))
}

/// GeoJSON positions are `[longitude, latitude(, altitude)]`.
fn line_string(geometry: &Value, path: &str) -> Result<Vec<LatLng>, ApiError> {
    let coordinates = geometry
        .get("coordinates")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(path, "missing or not an array"))?;
    check_count(coordinates.len())?;
    coordinates
        .iter()
        .enumerate()
        .map(|(i, position)| {
            let field = || format!("{path}[{i}]");
            let numbers: Option<Vec<f64>> = position
                .as_array()
                .map(|a| a.iter().map(Value::as_f64).collect())
                .unwrap_or(None);
            match numbers.as_deref() {
                Some([lng, lat, ..]) => LatLng::new(*lat, *lng).map_err(|e| invalid(&field(), e)),
                _ => Err(invalid(
                    &field(),
                    format!(
                        "expected [longitude, latitude], got {}",
                        excerpt(&position.to_string())
                    ),
                )),
            }
        })
        .collect()
}

/// A GPX document: its track points (`trkpt`) in order, or failing those its route points
/// (`rtept`). The title is the track's or route's `name`, else the metadata's.
/// Matches elements by local name (GPX 1.0 and 1.1 use different namespaces).
fn named<'a>(name: &'a str) -> impl Fn(&roxmltree::Node) -> bool + 'a {
    move |n| n.is_element() && n.tag_name().name() == name
}

fn gpx(text: &str) -> Result<(Option<String>, Vec<LatLng>), ApiError> {
    let document = roxmltree::Document::parse(text)
        .map_err(|e| invalid("body", format!("not valid XML: {e}")))?;
    let root = document.root_element();
    if root.tag_name().name() != "gpx" {
        return Err(invalid(
            "body",
            format!(
                "expected a <gpx> document, got <{}>",
                root.tag_name().name()
            ),
        ));
    }
    // Track points, or failing those route points; counted before any is read.
    let element = if root.descendants().any(|n| named("trkpt")(&n)) {
        "trkpt"
    } else {
        "rtept"
    };
    check_count(root.descendants().filter(named(element)).count())?;
    let title = ["trk", "rte", "metadata"].iter().find_map(|parent| {
        let parent = root.children().find(named(parent))?;
        let name = parent.children().find(named("name"))?;
        name.text()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    });
    let points = root
        .descendants()
        .filter(named(element))
        .map(|node| gpx_point(&document, node))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((title, points))
}

/// One `trkpt` or `rtept`. Only a point at fault has its line found: that walks the document from
/// its start, which done for every point costs time growing with the square of the file's size.
fn gpx_point(document: &roxmltree::Document, node: roxmltree::Node) -> Result<LatLng, ApiError> {
    let fault = |reason: String| {
        let line = document.text_pos_at(node.range().start).row;
        invalid(
            &format!("line {line}: <{}>", node.tag_name().name()),
            reason,
        )
    };
    let number = |name: &str| {
        let raw = node
            .attribute(name)
            .ok_or_else(|| fault(format!("no {name} attribute")))?;
        raw.trim()
            .parse::<f64>()
            .map_err(|_| fault(format!("{name} {:?} is not a number", excerpt(raw))))
    };
    LatLng::new(number("lat")?, number("lon")?).map_err(|e| fault(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(format: Format, body: &str, title: Option<&str>) -> (String, Value) {
        let e = parse(format, body.as_bytes(), title).unwrap_err();
        (e.error, e.detail)
    }

    #[test]
    fn json_routes_are_checked_field_by_field() {
        let ok = parse(
            Format::Json,
            br#"{"title":" Lago ","points":[{"lat":-15.8,"lng":-47.9},{"lat":-15.81,"lng":-47.91}]}"#,
            None,
        )
        .unwrap();
        assert_eq!(ok.title, "Lago");
        assert_eq!(ok.points.len(), 2);

        let (message, detail) = error(
            Format::Json,
            r#"{"title":"x","points":[{"lat":1,"lng":2},{"lat":95,"lng":2}]}"#,
            None,
        );
        assert_eq!(detail["field"], "points[1].lat");
        assert!(message.contains("latitude 95"), "{message}");
        let (_, detail) = error(
            Format::Json,
            r#"{"title":"x","points":[{"lat":1,"lng":2},{"lat":1}]}"#,
            None,
        );
        assert_eq!(detail["field"], "points[1].lng");
        let (_, detail) = error(
            Format::Json,
            r#"{"points":[{"lat":1,"lng":2},{"lat":1,"lng":3}]}"#,
            None,
        );
        assert_eq!(detail["field"], "title");
        let (message, detail) = error(
            Format::Json,
            r#"{"title":"x","points":[{"lat":1,"lng":2}]}"#,
            None,
        );
        assert_eq!(detail["field"], "points");
        assert!(message.contains("at least 2 points"), "{message}");
        let (_, detail) = error(Format::Json, r#"{"title":"x","points":"#, None);
        assert_eq!(detail["field"], "body");
    }

    #[test]
    fn geojson_is_longitude_first_and_errors_name_the_position() {
        let feature = r#"{"type":"Feature","properties":{"name":"Eixo"},
            "geometry":{"type":"LineString","coordinates":[[-47.9,-15.8,1100],[-47.91,-15.81]]}}"#;
        let route = parse(Format::GeoJson, feature.as_bytes(), None).unwrap();
        assert_eq!(route.title, "Eixo");
        assert_eq!(
            route.points[0],
            LatLng {
                lat: -15.8,
                lng: -47.9
            }
        );

        let collection = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","geometry":{"type":"Point","coordinates":[0,0]}},
            {"type":"Feature","geometry":{"type":"LineString","coordinates":[[0,0],[0,1],["a",2]]}}]}"#;
        let (message, detail) = error(Format::GeoJson, collection, Some("t"));
        assert_eq!(detail["field"], "features[1].geometry.coordinates[2]");
        assert!(message.contains("[\"a\",2]"), "{message}");
        let (_, detail) = error(
            Format::GeoJson,
            r#"{"type":"Point","coordinates":[0,0]}"#,
            Some("t"),
        );
        assert_eq!(detail["field"], "type");
    }

    #[test]
    fn gpx_tracks_and_routes_with_line_numbers_in_errors() {
        let track = r#"<?xml version="1.0"?>
<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1">
  <trk><name>Morning drive</name><trkseg>
    <trkpt lat="-15.80" lon="-47.90"><ele>1100</ele></trkpt>
    <trkpt lat="-15.81" lon="-47.91"/>
  </trkseg></trk>
</gpx>"#;
        let route = parse(Format::Gpx, track.as_bytes(), None).unwrap();
        assert_eq!(route.title, "Morning drive");
        assert_eq!(
            route.points[1],
            LatLng {
                lat: -15.81,
                lng: -47.91
            }
        );

        let rte = r#"<gpx><rte><rtept lat="1" lon="2"/><rtept lat="1" lon="3"/></rte></gpx>"#;
        assert_eq!(
            parse(Format::Gpx, rte.as_bytes(), Some("R"))
                .unwrap()
                .points
                .len(),
            2
        );

        let bad = "<gpx>\n<trk><trkseg>\n<trkpt lat=\"1\" lon=\"2\"/>\n<trkpt lat=\"x\" lon=\"2\"/>\n</trkseg></trk></gpx>";
        let (message, detail) = error(Format::Gpx, bad, Some("t"));
        assert_eq!(detail["field"], "line 4: <trkpt>");
        assert!(message.contains("lat \"x\" is not a number"), "{message}");
        let (message, _) = error(Format::Gpx, "<gpx><trk>", Some("t"));
        assert!(message.contains("not valid XML"), "{message}");
    }

    /// A GPX track of `n` points, all on one line.
    fn one_line_gpx(n: usize, last: &str) -> String {
        let points: String = (0..n - 1)
            .map(|i| format!(r#"<trkpt lat="{}" lon="-47.9"/>"#, -15.0 - i as f64 * 1e-5))
            .collect();
        format!("<gpx><trk><trkseg>{points}{last}</trkseg></trk></gpx>")
    }

    #[test]
    fn a_big_one_line_gpx_is_counted_first_and_only_its_bad_point_located() {
        let route = parse(
            Format::Gpx,
            one_line_gpx(MAX_POINTS, r#"<trkpt lat="1" lon="2"/>"#).as_bytes(),
            Some("t"),
        )
        .unwrap();
        assert_eq!(route.points.len(), MAX_POINTS);
        let (message, detail) = error(
            Format::Gpx,
            &one_line_gpx(MAX_POINTS, r#"<trkpt lat="1" lon="1e999x"/>"#),
            Some("t"),
        );
        assert_eq!(detail["field"], "line 1: <trkpt>");
        assert!(
            message.contains(r#"lon "1e999x" is not a number"#),
            "{message}"
        );
        // One point too many, the first of them bad: the count is what is refused.
        let bad_first = format!(
            r#"<trkpt lat="x" lon="0"/>{}"#,
            r#"<trkpt lat="0" lon="0"/>"#
        );
        let (message, detail) = error(
            Format::Gpx,
            &one_line_gpx(MAX_POINTS, &bad_first),
            Some("t"),
        );
        assert_eq!(detail["field"], "points");
        assert!(
            message.contains("at most 100000 points, got 100001"),
            "{message}"
        );
    }

    #[test]
    fn errors_quote_a_long_value_shortened() {
        let long = "x".repeat(1 << 20);
        for (format, body) in [
            (
                Format::Json,
                format!(r#"{{"title":"t","points":"{long}"}}"#),
            ),
            (Format::GeoJson, format!(r#"{{"type":"{long}"}}"#)),
            (
                Format::GeoJson,
                format!(r#"{{"type":"LineString","coordinates":[[0,0],["{long}"]]}}"#),
            ),
            (
                Format::Gpx,
                format!(r#"<gpx><rte><rtept lat="{long}" lon="0"/></rte></gpx>"#),
            ),
        ] {
            let (message, _) = error(format, &body, Some("t"));
            assert!(message.len() < 300, "{format:?}: {} bytes", message.len());
        }
    }

    /// Whether `parse_off_workers` leaves the async worker free: on a runtime of one thread, a task
    /// beside it runs while it parses. (Parsed on the worker, the parse would end at its first
    /// poll, before the other task ever ran.)
    #[tokio::test(flavor = "current_thread")]
    async fn imports_parse_off_the_async_worker() {
        let body = one_line_gpx(20_000, r#"<trkpt lat="1" lon="2"/>"#);
        let parsing = parse_off_workers(Format::Gpx, body.into(), Some("t".into()));
        let mut ran_beside = 0u64;
        let beside = async {
            loop {
                ran_beside += 1;
                tokio::task::yield_now().await;
            }
        };
        let route = tokio::select! {
            biased;
            route = parsing => route.unwrap(),
            _ = beside => unreachable!(),
        };
        assert_eq!(route.points.len(), 20_000);
        assert!(ran_beside > 0, "the parse held the only worker");
    }

    #[test]
    fn route_files_need_a_title_and_name_the_line() {
        let route = parse(
            Format::RouteFile,
            b"-15.8,-47.9\n-15.81,-47.91\n",
            Some("File"),
        )
        .unwrap();
        assert_eq!(route.points.len(), 2);
        let (_, detail) = error(Format::RouteFile, "-15.8,-47.9\n-15.81,-47.91\n", None);
        assert_eq!(detail["field"], "title");
        let (message, _) = error(Format::RouteFile, "-15.8,-47.9\nnope\n", Some("t"));
        assert!(message.contains("body:2: no comma"), "{message}");
    }

    #[test]
    fn content_types_choose_the_format() {
        assert_eq!(
            Format::from_content_type("application/json; charset=utf-8"),
            Some(Format::Json)
        );
        assert_eq!(
            Format::from_content_type("application/geo+json"),
            Some(Format::GeoJson)
        );
        assert_eq!(
            Format::from_content_type("application/gpx+xml"),
            Some(Format::Gpx)
        );
        assert_eq!(
            Format::from_content_type("text/plain"),
            Some(Format::RouteFile)
        );
        assert_eq!(Format::from_content_type("image/png"), None);
    }
}
