//! Prometheus text exposition, by hand: a handful of counters and gauges need no library.

use std::fmt::Write;

/// A `/metrics` page being written.
#[derive(Debug, Default)]
pub struct Exposition(String);

impl Exposition {
    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.metric(name, help, "counter", value as f64);
    }

    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.metric(name, help, "gauge", value);
    }

    fn metric(&mut self, name: &str, help: &str, kind: &str, value: f64) {
        let _ = write!(
            self.0,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        );
    }

    pub fn finish(self) -> String {
        self.0
    }
}

/// A part of the process that has figures to show on `/metrics`.
pub trait Metered: Send + Sync {
    fn expose(&self, out: &mut Exposition);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_text_format() {
        let mut out = Exposition::default();
        out.counter("rota_things_total", "Things seen.", 3);
        out.gauge("rota_level", "A level.", 0.5);
        assert_eq!(
            out.finish(),
            "# HELP rota_things_total Things seen.\n# TYPE rota_things_total counter\nrota_things_total 3\n\
             # HELP rota_level A level.\n# TYPE rota_level gauge\nrota_level 0.5\n"
        );
    }
}
