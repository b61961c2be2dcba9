//! `/metrics`: Prometheus's text exposition format, by hand. A handful of counters, gauges and one
//! histogram need no library, and this format is the one every scraper reads.

use std::fmt::Write;

use axum::{
    http::header,
    response::{IntoResponse, Response},
};

/// What `/metrics` answers with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A `/metrics` page being written.
#[derive(Debug, Default)]
pub struct Exposition(String);

impl Exposition {
    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, help, "counter");
        self.sample(name, &[], value as f64);
    }

    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.family(name, help, "gauge");
        self.sample(name, &[], value);
    }

    /// Starts a family of samples (`counter`, `gauge` or `histogram`); [`Self::sample`] adds them.
    pub fn family(&mut self, name: &str, help: &str, kind: &str) {
        let _ = write!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
    }

    /// One sample line. Label values are escaped as the text format wants.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                let value = value
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let comma = if i > 0 { "," } else { "" };
                let _ = write!(self.0, "{comma}{label}=\"{value}\"");
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    pub fn finish(self) -> String {
        self.0
    }
}

/// A part of the process that has figures to show on `/metrics`.
pub trait Metered: Send + Sync {
    fn expose(&self, out: &mut Exposition);
}

/// The whole `/metrics` page of these parts.
pub fn render<'a>(parts: impl IntoIterator<Item = &'a dyn Metered>) -> String {
    let mut out = Exposition::default();
    for part in parts {
        part.expose(&mut out);
    }
    out.finish()
}

/// The `/metrics` answer of these parts.
pub fn page<'a>(parts: impl IntoIterator<Item = &'a dyn Metered>) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], render(parts)).into_response()
}

/// Upper bounds (seconds) of the latency buckets: Prometheus's defaults.
const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Latency observations counted into Prometheus's default buckets.
#[derive(Clone, Debug, Default)]
pub struct Histogram {
    /// Per bucket, observations up to its bound (not cumulative; summed when written).
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    pub fn observe(&mut self, value: f64) {
        if let Some(i) = LATENCY_BUCKETS.iter().position(|bound| value <= *bound) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += value;
    }

    /// Writes `<name>_bucket`, `_sum` and `_count` of one series; the family is the caller's.
    pub fn expose(&self, out: &mut Exposition, name: &str, labels: &[(&str, &str)]) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (bound, n) in LATENCY_BUCKETS.iter().zip(self.buckets) {
            cumulative += n;
            let le = bound.to_string();
            out.sample(
                &bucket,
                &[labels, &[("le", &le)]].concat(),
                cumulative as f64,
            );
        }
        out.sample(
            &bucket,
            &[labels, &[("le", "+Inf")]].concat(),
            self.count as f64,
        );
        out.sample(&format!("{name}_sum"), labels, self.sum);
        out.sample(&format!("{name}_count"), labels, self.count as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_text_format() {
        let mut out = Exposition::default();
        out.counter("rota_things_total", "Things seen.", 3);
        out.gauge("rota_level", "A level.", 0.5);
        out.family("rota_lag", "Lag.", "gauge");
        out.sample("rota_lag", &[("group", "a\"b")], 2.0);
        assert_eq!(
            out.finish(),
            "# HELP rota_things_total Things seen.\n# TYPE rota_things_total counter\nrota_things_total 3\n\
             # HELP rota_level A level.\n# TYPE rota_level gauge\nrota_level 0.5\n\
             # HELP rota_lag Lag.\n# TYPE rota_lag gauge\nrota_lag{group=\"a\\\"b\"} 2\n"
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut histogram = Histogram::default();
        for seconds in [0.001, 0.02, 0.02, 30.0] {
            histogram.observe(seconds);
        }
        let mut out = Exposition::default();
        histogram.expose(&mut out, "rota_t_seconds", &[("route", "/x")]);
        let page = out.finish();
        for line in [
            "rota_t_seconds_bucket{route=\"/x\",le=\"0.005\"} 1\n",
            "rota_t_seconds_bucket{route=\"/x\",le=\"0.01\"} 1\n",
            "rota_t_seconds_bucket{route=\"/x\",le=\"0.025\"} 3\n",
            "rota_t_seconds_bucket{route=\"/x\",le=\"10\"} 3\n",
            "rota_t_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n",
            "rota_t_seconds_sum{route=\"/x\"} 30.041\n",
            "rota_t_seconds_count{route=\"/x\"} 4\n",
        ] {
            assert!(page.contains(line), "{line} missing from\n{page}");
        }
    }
}
