//! The browser map's files, embedded in the binary at build time (see `build.rs`), so `rota up`
//! serves a working page offline with nothing installed beside it.

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// One embedded file.
#[derive(Clone, Copy, Debug)]
pub struct Asset {
    pub content_type: &'static str,
    pub body: &'static [u8],
}

/// The file served at `path` (`/` is the map page, `/system` the System page), if there is one.
pub fn asset(path: &str) -> Option<Asset> {
    let path = match path {
        "/" => "/index.html",
        "/system" => "/system.html",
        path => path,
    };
    ASSETS
        .iter()
        .find(|(url, _)| *url == path)
        .map(|(url, body)| Asset {
            content_type: content_type(url),
            body,
        })
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        _ => "text/plain; charset=utf-8",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_the_page_and_vendored_leaflet() {
        let page = asset("/").unwrap();
        assert_eq!(page.content_type, "text/html; charset=utf-8");
        let html = std::str::from_utf8(page.body).unwrap();
        for linked in [
            "/vendor/leaflet/leaflet.js",
            "/vendor/leaflet/leaflet.css",
            "/js/main.js",
            "/style.css",
        ] {
            assert!(html.contains(linked), "index.html links {linked}");
            assert!(asset(linked).is_some(), "{linked} is embedded");
        }
        // Every module main.js imports, and what they import, is embedded too.
        let main = std::str::from_utf8(asset("/js/main.js").unwrap().body).unwrap();
        let imports: Vec<&str> = main
            .lines()
            .filter_map(|line| line.strip_prefix("import "))
            .filter_map(|line| line.split('\'').nth(1))
            .collect();
        assert!(imports.len() >= 5, "{imports:?}");
        for module in imports {
            let path = format!("/js/{}", module.trim_start_matches("./"));
            assert!(asset(&path).is_some(), "{path} is embedded");
        }
        assert_eq!(
            asset("/vendor/leaflet/images/marker-icon.png")
                .unwrap()
                .content_type,
            "image/png"
        );
        assert!(asset("/nope.js").is_none());
        let system = std::str::from_utf8(asset("/system").unwrap().body).unwrap();
        assert!(
            system.contains("/js/system.js"),
            "the System page loads its script"
        );
        let script = std::str::from_utf8(asset("/js/system.js").unwrap().body).unwrap();
        assert!(script.contains("'./system-model.js'"));
        assert!(asset("/js/system-model.js").is_some());
    }
}
