//! The route-file format, as in the reference system: one `lat,lng` point per line, blank lines
//! skipped. A line that does not parse is an error naming the file and the line: a silently
//! shortened route would look fine on the map and be wrong.

use std::{
    borrow::Cow,
    path::{Path, PathBuf},
};

use crate::LatLng;

/// A route file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RouteFileError {
    #[error("{file}: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {reason} (expected `lat,lng`, got {text:?})")]
    Line {
        file: PathBuf,
        line: usize,
        text: String,
        reason: String,
    },
    #[error("{file}: a route needs at least 2 points, found {found}")]
    TooShort { file: PathBuf, found: usize },
}

/// Reads and parses a route file.
pub fn read_route_file(file: &Path) -> Result<Vec<LatLng>, RouteFileError> {
    let text = std::fs::read_to_string(file).map_err(|source| RouteFileError::Read {
        file: file.to_owned(),
        source,
    })?;
    parse_route(file, &text)
}

/// Parses route-file text; `file` only names the source in errors. Blank lines are skipped.
pub fn parse_route(file: &Path, text: &str) -> Result<Vec<LatLng>, RouteFileError> {
    let mut points = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let error = |reason: String| RouteFileError::Line {
            file: file.to_owned(),
            line: index + 1,
            text: excerpt(raw).into_owned(),
            reason,
        };
        let (lat, lng) = line
            .split_once(',')
            .ok_or_else(|| error("no comma".into()))?;
        let number = |name: &str, s: &str| {
            s.trim()
                .parse::<f64>()
                .map_err(|_| error(format!("{name} {:?} is not a number", excerpt(s.trim()))))
        };
        let point = LatLng::new(number("latitude", lat)?, number("longitude", lng)?)
            .map_err(|e| error(e.to_string()))?;
        points.push(point);
    }
    if points.len() < 2 {
        return Err(RouteFileError::TooShort {
            file: file.to_owned(),
            found: points.len(),
        });
    }
    Ok(points)
}

/// At most the first 40 characters of `text`, marked when cut: what an error quotes of its input,
/// so a megabyte-long line makes a short message.
pub fn excerpt(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{}…", &text[..end]).into(),
        None => text.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_line_names_file_and_line() {
        let err = parse_route(Path::new("r.txt"), "1,2\n\n3,x\n4,5\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"r.txt:3: longitude "x" is not a number (expected `lat,lng`, got "3,x")"#
        );
        let err = parse_route(Path::new("r.txt"), "1,2\n1;2\n").unwrap_err();
        assert!(err.to_string().starts_with("r.txt:2: no comma"), "{err}");
        let err = parse_route(Path::new("r.txt"), "1,2\n91,2\n").unwrap_err();
        assert!(err.to_string().starts_with("r.txt:2: latitude 91"), "{err}");
    }

    #[test]
    fn an_error_quotes_a_long_line_shortened() {
        let long = format!("1,{}", "9".repeat(1 << 20));
        let err = parse_route(Path::new("r.txt"), &format!("1,2\n{long}\n")).unwrap_err();
        let message = err.to_string();
        assert!(message.len() < 200, "{message}");
        assert!(
            message.contains(&format!("\"1,{}…\"", "9".repeat(38))),
            "{message}"
        );
    }

    #[test]
    fn a_route_needs_two_points() {
        let err = parse_route(Path::new("one.txt"), "1,2\n").unwrap_err();
        assert!(
            matches!(err, RouteFileError::TooShort { found: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn reads_files_from_disk_and_names_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("9.txt");
        std::fs::write(&file, "-15.8,-47.9\n-15.9,-47.8\n").unwrap();
        assert_eq!(read_route_file(&file).unwrap().len(), 2);
        let err = read_route_file(&dir.path().join("missing.txt")).unwrap_err();
        assert!(err.to_string().contains("missing.txt"), "{err}");
    }
}
