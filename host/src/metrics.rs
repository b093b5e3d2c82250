//! Run-time counters, exported in the Prometheus text format at `/metrics`:
//! per county and plugin version, evaluations, their latency, clamps and
//! fallbacks to the baseline; per county, proofs and their duration.
//!
//! The counters live behind one mutex each family. The families counted on
//! every request (evaluations, fallbacks, requests) are hash maps nested by
//! label, looked up with the borrowed labels: a request allocates nothing
//! once its labels have been seen, and the lookup costs the same with one
//! county or 3,000. The exposition sorts them.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 10] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05, 0.25,
];

#[derive(Clone, Debug, Default)]
struct Evaluations {
    count: u64,
    clamps: u64,
    buckets: [u64; LATENCY_BUCKETS.len()],
    seconds: f64,
}

#[derive(Clone, Debug, Default)]
struct Proofs {
    count: u64,
    seconds: f64,
}

/// The latest re-proof result per (county, edition), and the count and
/// time of re-proofs per result.
type Reproofs = (BTreeMap<(String, String), String>, BTreeMap<String, Proofs>);

/// A family's counters by one label.
type Nested<V> = HashMap<String, V>;

/// The entry of `key`, made on first sight (the key is copied only then;
/// always `Some`).
fn slot<'m, V: Default>(map: &'m mut Nested<V>, key: &str) -> Option<&'m mut V> {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key)
}

/// The entries of a nested family, sorted by label, for the exposition.
fn sorted<V>(map: &Nested<V>) -> Vec<(&str, &V)> {
    let mut entries: Vec<(&str, &V)> = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    entries
}

/// The counters of one server process.
#[derive(Debug, Default)]
pub struct Metrics {
    /// county → version → counters.
    evaluations: Mutex<Nested<Nested<Evaluations>>>,
    /// county → version → kind → count.
    fallbacks: Mutex<Nested<Nested<Nested<u64>>>>,
    proofs: Mutex<BTreeMap<(String, String), Proofs>>,
    /// route → status → count.
    requests: Mutex<Nested<HashMap<u16, u64>>>,
    publications: Mutex<BTreeMap<String, u64>>,
    /// The latest re-proof result per (county, edition), and the count of
    /// re-proofs per result.
    reproofs: Mutex<Reproofs>,
}

/// One county's counters since the process started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CountyTotals {
    /// Evaluations served.
    pub evaluations: u64,
    /// County lines the guard refused.
    pub clamps: u64,
    /// Evaluations that fell back to the baseline.
    pub fallbacks: u64,
}

/// Counters for a county with no plugin version in force.
pub const NO_VERSION: &str = "none";

/// The version label of the counters: the version's number, or
/// [`NO_VERSION`].
pub fn version_label(version: Option<i64>) -> String {
    version.map_or_else(|| NO_VERSION.to_string(), |v| v.to_string())
}

impl Metrics {
    /// Counts one evaluation of `county` served by `version` (or
    /// [`NO_VERSION`]) that took `elapsed`, with `clamps` lines refused.
    pub fn evaluation(&self, county: &str, version: &str, elapsed: Duration, clamps: usize) {
        let seconds = elapsed.as_secs_f64();
        let Ok(mut map) = self.evaluations.lock() else {
            return;
        };
        let Some(entry) = slot(&mut map, county).and_then(|m| slot(m, version)) else {
            return;
        };
        entry.count += 1;
        entry.clamps += clamps as u64;
        entry.seconds += seconds;
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| seconds <= *b) {
            entry.buckets[i] += 1;
        }
    }

    /// Counts a fallback to the baseline of `kind` (`no-plugin`,
    /// `suspended`, `no-table`, …).
    pub fn fallback(&self, county: &str, version: &str, kind: &str) {
        if let Ok(mut map) = self.fallbacks.lock()
            && let Some(n) = slot(&mut map, county)
                .and_then(|m| slot(m, version))
                .and_then(|m| slot(m, kind))
        {
            *n += 1;
        }
    }

    /// Counts a proof of `county` with `result` that took `elapsed`.
    pub fn proof(&self, county: &str, result: &str, elapsed: Duration) {
        if let Ok(mut map) = self.proofs.lock() {
            let entry = map
                .entry((county.to_string(), result.to_string()))
                .or_default();
            entry.count += 1;
            entry.seconds += elapsed.as_secs_f64();
        }
    }

    /// Counts a baseline edition published for the list `code`.
    pub fn publication(&self, code: &str) {
        if let Ok(mut map) = self.publications.lock() {
            *map.entry(code.to_string()).or_default() += 1;
        }
    }

    /// Records a re-proof of `county` against `edition` with `result`
    /// (`passed`, `below`, `failed`) that took `elapsed`.
    pub fn reproof(&self, county: &str, edition: &str, result: &str, elapsed: Duration) {
        if let Ok(mut m) = self.reproofs.lock() {
            m.0.insert(
                (county.to_string(), edition.to_string()),
                result.to_string(),
            );
            let entry = m.1.entry(result.to_string()).or_default();
            entry.count += 1;
            entry.seconds += elapsed.as_secs_f64();
        }
    }

    /// Counts one HTTP request by route template and status.
    pub fn request(&self, route: &str, status: u16) {
        if let Ok(mut map) = self.requests.lock()
            && let Some(by_status) = slot(&mut map, route)
        {
            *by_status.entry(status).or_default() += 1;
        }
    }

    /// Evaluations counted for a county and version (for tests and pages).
    pub fn evaluations_of(&self, county: &str, version: &str) -> u64 {
        self.evaluations
            .lock()
            .ok()
            .and_then(|m| m.get(county).and_then(|m| m.get(version)).map(|e| e.count))
            .unwrap_or(0)
    }

    /// A county's counters summed over its versions: evaluations, clamped
    /// lines and fallbacks to the baseline (for the counties overview).
    pub fn county_totals(&self, county: &str) -> CountyTotals {
        let mut totals = CountyTotals::default();
        if let Ok(map) = self.evaluations.lock()
            && let Some(versions) = map.get(county)
        {
            for e in versions.values() {
                totals.evaluations += e.count;
                totals.clamps += e.clamps;
            }
        }
        if let Ok(map) = self.fallbacks.lock()
            && let Some(versions) = map.get(county)
        {
            totals.fallbacks = versions.values().flat_map(|kinds| kinds.values()).sum();
        }
        totals
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let label = |s: &str| {
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        };
        if let Ok(map) = self.evaluations.lock() {
            let map: Vec<((&str, &str), &Evaluations)> = sorted(&map)
                .into_iter()
                .flat_map(|(county, versions)| {
                    sorted(versions)
                        .into_iter()
                        .map(move |(version, e)| ((county, version), e))
                })
                .collect();
            out.push_str("# HELP qingdan_evaluations_total Evaluations served, per county and plugin version.\n# TYPE qingdan_evaluations_total counter\n");
            for ((county, version), e) in &map {
                let _ = writeln!(
                    out,
                    "qingdan_evaluations_total{{county=\"{}\",version=\"{}\"}} {}",
                    label(county),
                    label(version),
                    e.count
                );
            }
            out.push_str("# HELP qingdan_clamps_total County lines refused by the guard (below the baseline).\n# TYPE qingdan_clamps_total counter\n");
            for ((county, version), e) in &map {
                let _ = writeln!(
                    out,
                    "qingdan_clamps_total{{county=\"{}\",version=\"{}\"}} {}",
                    label(county),
                    label(version),
                    e.clamps
                );
            }
            out.push_str("# HELP qingdan_evaluation_seconds Time to evaluate one person (inside the server).\n# TYPE qingdan_evaluation_seconds histogram\n");
            for ((county, version), e) in &map {
                let (county, version) = (label(county), label(version));
                let mut cumulative = 0;
                for (bound, n) in LATENCY_BUCKETS.iter().zip(e.buckets.iter()) {
                    cumulative += n;
                    let _ = writeln!(
                        out,
                        "qingdan_evaluation_seconds_bucket{{county=\"{county}\",version=\"{version}\",le=\"{bound}\"}} {cumulative}"
                    );
                }
                let _ = writeln!(
                    out,
                    "qingdan_evaluation_seconds_bucket{{county=\"{county}\",version=\"{version}\",le=\"+Inf\"}} {}",
                    e.count
                );
                let _ = writeln!(
                    out,
                    "qingdan_evaluation_seconds_sum{{county=\"{county}\",version=\"{version}\"}} {}",
                    e.seconds
                );
                let _ = writeln!(
                    out,
                    "qingdan_evaluation_seconds_count{{county=\"{county}\",version=\"{version}\"}} {}",
                    e.count
                );
            }
        }
        if let Ok(map) = self.fallbacks.lock() {
            out.push_str("# HELP qingdan_fallbacks_total Evaluations that got the baseline alone, by reason.\n# TYPE qingdan_fallbacks_total counter\n");
            let entries = sorted(&map).into_iter().flat_map(|(county, versions)| {
                sorted(versions)
                    .into_iter()
                    .flat_map(move |(version, kinds)| {
                        sorted(kinds)
                            .into_iter()
                            .map(move |(kind, n)| ((county, version, kind), n))
                    })
            });
            for ((county, version, kind), n) in entries {
                let _ = writeln!(
                    out,
                    "qingdan_fallbacks_total{{county=\"{}\",version=\"{}\",kind=\"{}\"}} {n}",
                    label(county),
                    label(version),
                    label(kind)
                );
            }
        }
        if let Ok(map) = self.proofs.lock() {
            out.push_str("# HELP qingdan_proofs_total Validations and proofs of uploaded versions, by result.\n# TYPE qingdan_proofs_total counter\n");
            for ((county, result), p) in map.iter() {
                let _ = writeln!(
                    out,
                    "qingdan_proofs_total{{county=\"{}\",result=\"{}\"}} {}",
                    label(county),
                    label(result),
                    p.count
                );
            }
            out.push_str("# HELP qingdan_proof_seconds_total Time spent validating, compiling and proving.\n# TYPE qingdan_proof_seconds_total counter\n");
            for ((county, result), p) in map.iter() {
                let _ = writeln!(
                    out,
                    "qingdan_proof_seconds_total{{county=\"{}\",result=\"{}\"}} {}",
                    label(county),
                    label(result),
                    p.seconds
                );
            }
        }
        if let Ok(map) = self.publications.lock() {
            out.push_str("# HELP qingdan_publications_total Baseline editions published through this server, per list.\n# TYPE qingdan_publications_total counter\n");
            for (code, n) in map.iter() {
                let _ = writeln!(
                    out,
                    "qingdan_publications_total{{list=\"{}\"}} {n}",
                    label(code)
                );
            }
        }
        if let Ok(m) = self.reproofs.lock() {
            out.push_str("# HELP qingdan_reproofs_total Re-proofs of county plugins against baseline editions, by result.\n# TYPE qingdan_reproofs_total counter\n");
            for (result, p) in m.1.iter() {
                let _ = writeln!(
                    out,
                    "qingdan_reproofs_total{{result=\"{}\"}} {}",
                    label(result),
                    p.count
                );
            }
            out.push_str("# HELP qingdan_county_below_edition 1 when the latest re-proof of a county's plugin found someone below the edition (served clamped), else 0.\n# TYPE qingdan_county_below_edition gauge\n");
            for ((county, edition), result) in m.0.iter() {
                let _ = writeln!(
                    out,
                    "qingdan_county_below_edition{{county=\"{}\",edition=\"{}\"}} {}",
                    label(county),
                    label(edition),
                    u8::from(result == "below")
                );
            }
        }
        if let Ok(map) = self.requests.lock() {
            out.push_str("# HELP qingdan_http_requests_total HTTP requests by route and status.\n# TYPE qingdan_http_requests_total counter\n");
            let entries = sorted(&map).into_iter().flat_map(|(route, statuses)| {
                let mut statuses: Vec<(&u16, &u64)> = statuses.iter().collect();
                statuses.sort_unstable();
                statuses
                    .into_iter()
                    .map(move |(status, n)| ((route, status), n))
            });
            for ((route, status), n) in entries {
                let _ = writeln!(
                    out,
                    "qingdan_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                    label(route)
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_as_prometheus_text() {
        let m = Metrics::default();
        m.evaluation("330282", "2", Duration::from_micros(80), 1);
        m.evaluation("330282", "2", Duration::from_millis(3), 0);
        m.fallback("330203", NO_VERSION, "no-plugin");
        m.proof("330282", "pending-review", Duration::from_millis(600));
        let text = m.render();
        assert!(text.contains("qingdan_evaluations_total{county=\"330282\",version=\"2\"} 2"));
        assert!(text.contains("qingdan_clamps_total{county=\"330282\",version=\"2\"} 1"));
        assert!(text.contains(
            "qingdan_evaluation_seconds_bucket{county=\"330282\",version=\"2\",le=\"0.0001\"} 1"
        ));
        assert!(text.contains(
            "qingdan_evaluation_seconds_bucket{county=\"330282\",version=\"2\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains(
            "qingdan_fallbacks_total{county=\"330203\",version=\"none\",kind=\"no-plugin\"} 1"
        ));
        assert!(
            text.contains("qingdan_proofs_total{county=\"330282\",result=\"pending-review\"} 1")
        );
        assert_eq!(m.evaluations_of("330282", "2"), 2);
    }
}
