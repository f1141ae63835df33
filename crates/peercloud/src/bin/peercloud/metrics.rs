//! A peer's metrics in the Prometheus text format (OpenMetrics, as the
//! `prometheus-client` crate writes it), for the admin listener's `GET
//! /metrics`: `peercloud_` names, `_total` counters, `_seconds`
//! histograms, a HELP and a TYPE line for each. Reads a
//! [`Cloud::metrics`] snapshot; touches nothing else.

use std::fmt;

use peercloud::{Cloud, Histogram, Metrics};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of what [`encode`] returns.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The peer's metrics now, as text.
pub(crate) fn encode(cloud: &Cloud) -> String {
    encode_metrics(cloud.metrics())
}

/// `metrics` as text.
pub(crate) fn encode_metrics(metrics: Metrics) -> String {
    let mut registry = Registry::with_prefix("peercloud");
    registry.register_collector(Box::new(Snapshot(metrics)));
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
    text
}

/// One snapshot, encoded as it is (nothing here counts).
#[derive(Debug)]
struct Snapshot(Metrics);

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let m = &self.0;
        let e = &mut encoder;
        members(e, m)?;
        local_health(e, m)?;
        membership(e, m)?;
        let c = &m.calls;
        counters(
            e,
            "calls",
            "Membership calls this peer made, by outcome.",
            "outcome",
            &[
                ("ok", c.ok),
                ("timeout", c.timeout),
                ("no_listener", c.no_listener),
                ("unreachable", c.unreachable),
                ("refused", c.refused),
                ("invalid_reply", c.invalid_reply),
                ("unauthorized", c.unauthorized),
            ],
        )?;
        messages(e, m)?;
        counter(
            e,
            "bytes_sent",
            "HTTP body bytes sent: requests as a client, answers as a server.",
            m.bytes_sent,
        )?;
        counter(
            e,
            "bytes_received",
            "HTTP body bytes received: answers as a client, requests as a server.",
            m.bytes_received,
        )
    }
}

fn members(e: &mut DescriptorEncoder, m: &Metrics) -> fmt::Result {
    let mut family = e.encode_descriptor(
        "members",
        "Members of the cloud this peer knows, by state.",
        None,
        MetricType::Gauge,
    )?;
    for (state, n) in [
        ("alive", m.members.alive),
        ("suspected", m.members.suspected),
    ] {
        let labels = [("state", state)];
        let value = i64::try_from(n).unwrap_or(i64::MAX);
        family.encode_family(&labels)?.encode_gauge(&value)?;
    }
    Ok(())
}

fn local_health(e: &mut DescriptorEncoder, m: &Metrics) -> fmt::Result {
    let help = "This peer's local health: 0 when healthy, up to 8 while it finds itself slow.";
    e.encode_descriptor("local_health", help, None, MetricType::Gauge)?
        .encode_gauge(&i64::from(m.local_health))
}

fn membership(e: &mut DescriptorEncoder, m: &Metrics) -> fmt::Result {
    let c = &m.membership;
    counter(
        e,
        "probes_sent",
        "Direct probes sent to members.",
        c.probes_sent,
    )?;
    counter(
        e,
        "probes_acked",
        "Direct probes the member answered.",
        c.probes_acked,
    )?;
    counter(
        e,
        "probes_failed",
        "Direct probes the member did not answer.",
        c.probes_failed,
    )?;
    counter(
        e,
        "indirect_probes_sent",
        "Indirect probes asked of helpers after a failed direct probe.",
        c.indirect_probes_sent,
    )?;
    counter(
        e,
        "indirect_probes_acked",
        "Failed direct probes that a helper found alive.",
        c.indirect_probes_acked,
    )?;
    counter(
        e,
        "suspicions_spared",
        "Failed probes that did not suspect the member: it called this peer meanwhile.",
        c.suspicions_spared,
    )?;
    counter(
        e,
        "suspicions",
        "Members that became suspected.",
        c.suspicions,
    )?;
    counter(
        e,
        "members_alive_again",
        "Suspected members that refuted their suspicion.",
        c.members_alive_again,
    )?;
    counter(
        e,
        "refutations",
        "Suspicions or failures of this peer that it refuted.",
        c.refutations,
    )?;
    counter(e, "joins", "Members that joined.", c.joins)?;
    counter(
        e,
        "leaves",
        "Members that left by saying goodbye.",
        c.leaves,
    )?;
    let v = &c.evictions;
    counters(
        e,
        "evictions",
        "Members removed after failing, by cause.",
        "cause",
        &[
            ("refused", v.refused),
            ("silent", v.silent),
            ("replaced", v.replaced),
            ("reported", v.reported),
        ],
    )?;
    counter(
        e,
        "data_updates",
        "Members whose data changed.",
        c.data_updates,
    )
}

fn messages(e: &mut DescriptorEncoder, m: &Metrics) -> fmt::Result {
    let s = &m.messages_sent;
    counters(
        e,
        "messages_sent",
        "Application messages sent (one per peer of a broadcast), by outcome.",
        "outcome",
        &[
            ("ok", s.ok),
            ("timeout", s.timeout),
            ("unreachable", s.unreachable),
            ("refused", s.refused),
            ("handler", s.handler),
            ("invalid_reply", s.invalid_reply),
            ("unauthorized", s.unauthorized),
        ],
    )?;
    histogram(
        e,
        "message_latency",
        "Time from sending a message to its reply or error.",
        &m.message_latency,
    )?;
    let r = &m.messages_received;
    counters(
        e,
        "messages_received",
        "Application messages received, by outcome.",
        "outcome",
        &[
            ("ok", r.ok),
            ("handler_failed", r.handler_failed),
            ("handler_panicked", r.handler_panicked),
            ("unknown_sender", r.unknown_sender),
        ],
    )?;
    histogram(
        e,
        "handler_duration",
        "Time the message handler took to answer.",
        &m.handler_duration,
    )?;
    counter(e, "broadcasts", "Broadcasts made.", m.broadcasts)?;
    histogram(
        e,
        "broadcast_latency",
        "Time from the start of a broadcast to its last reply.",
        &m.broadcast_latency,
    )
}

/// A counter without labels (`NAME_total`).
fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let mut metric = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    encode_counter(&mut metric, value)
}

/// A counter with one label, one series per value of it.
fn counters(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    series: &[(&str, u64)],
) -> fmt::Result {
    let mut family = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value, n) in series {
        let labels = [(label, *value)];
        encode_counter(&mut family.encode_family(&labels)?, *n)?;
    }
    Ok(())
}

fn encode_counter(metric: &mut MetricEncoder<'_>, value: u64) -> fmt::Result {
    metric.encode_counter::<NoLabelSet, _, u64>(&value, None)
}

/// A histogram in seconds (`NAME_seconds_bucket`, `_sum`, `_count`).
fn histogram(e: &mut DescriptorEncoder, name: &str, help: &str, h: &Histogram) -> fmt::Result {
    let mut metric =
        e.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
    // The encoder takes each bucket's own count and adds them up itself.
    let mut below = 0;
    let mut buckets: Vec<(f64, u64)> = h
        .buckets
        .iter()
        .map(|&(bound, cumulative)| {
            let own = cumulative.saturating_sub(below);
            below = cumulative;
            (bound, own)
        })
        .collect();
    buckets.push((f64::INFINITY, h.count.saturating_sub(below)));
    metric.encode_histogram::<NoLabelSet>(h.sum, h.count, &buckets, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_help_and_type_lines_under_the_peercloud_prefix() {
        let text = encode_metrics(Metrics::default());
        for (name, kind) in [
            ("peercloud_members", "gauge"),
            ("peercloud_local_health", "gauge"),
            ("peercloud_probes_sent", "counter"),
            ("peercloud_evictions", "counter"),
            ("peercloud_messages_sent", "counter"),
            ("peercloud_message_latency_seconds", "histogram"),
            ("peercloud_bytes_received", "counter"),
        ] {
            assert!(
                text.contains(&format!("\n# TYPE {name} {kind}\n"))
                    || text.starts_with(&format!("# TYPE {name} {kind}\n")),
                "{name}: {text}"
            );
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
        }
        assert!(text.contains("peercloud_probes_sent_total 0\n"), "{text}");
        assert!(text.contains("peercloud_local_health 0\n"), "{text}");
        assert!(text.contains("peercloud_evictions_total{cause=\"silent\"} 0\n"));
        assert!(text.contains("peercloud_message_latency_seconds_bucket{le=\"+Inf\"} 0\n"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn the_local_health_is_the_score_the_peer_reports() {
        let mut metrics = Metrics::default();
        metrics.local_health = 3;
        let text = encode_metrics(metrics);
        assert!(text.contains("\npeercloud_local_health 3\n"), "{text}");
    }

    #[test]
    fn the_suspicions_spared_are_the_core_counters() {
        let mut metrics = Metrics::default();
        metrics.membership.suspicions_spared = 2;
        let text = encode_metrics(metrics);
        assert!(
            text.contains("# TYPE peercloud_suspicions_spared counter\n"),
            "{text}"
        );
        assert!(
            text.contains("\npeercloud_suspicions_spared_total 2\n"),
            "{text}"
        );
    }

    /// The samples of an exposition, by series (`name{labels}`).
    fn samples(text: &str) -> std::collections::BTreeMap<String, f64> {
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                Some((series.to_owned(), value.parse().ok()?))
            })
            .collect()
    }

    async fn peer(seed: Option<String>) -> Cloud {
        let config = peercloud::Config {
            probe_interval: std::time::Duration::from_millis(100),
            ..peercloud::Config::new_wan()
        };
        let mut builder = Cloud::builder()
            .listener(std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .membership(config)
            .on_message(|_, body| async move { Ok(body) });
        if let Some(seed) = seed {
            builder = builder.seed(seed);
        }
        builder.start().await.unwrap()
    }

    /// Polls the exposition of `cloud` until `done` holds for its samples.
    async fn scrape_until(
        cloud: &Cloud,
        what: &str,
        done: impl Fn(&std::collections::BTreeMap<String, f64>) -> bool,
    ) -> std::collections::BTreeMap<String, f64> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let text = encode(cloud);
            let samples = samples(&text);
            if done(&samples) {
                return samples;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out until {what}:\n{text}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_exposition_moves_as_messages_flow_and_a_peer_crashes() {
        let a = peer(None).await;
        let crashing = tokio::runtime::Runtime::new().unwrap();
        let b = crashing
            .spawn(peer(Some(format!("127.0.0.1:{}", a.port()))))
            .await
            .unwrap();
        let alive = r#"peercloud_members{state="alive"}"#;
        scrape_until(&a, "b is a member", |s| s[alive] == 1.0).await;
        a.send_to(&b.id(), serde_json::json!({"hello": 1}))
            .await
            .unwrap();
        let sent = samples(&encode(&a));
        assert_eq!(sent[r#"peercloud_messages_sent_total{outcome="ok"}"#], 1.0);
        assert_eq!(sent["peercloud_message_latency_seconds_count"], 1.0);
        assert_eq!(
            sent[r#"peercloud_message_latency_seconds_bucket{le="+Inf"}"#],
            1.0
        );
        assert!(sent["peercloud_bytes_sent_total"] > 0.0);
        let received = samples(&encode(&b));
        assert_eq!(
            received[r#"peercloud_messages_received_total{outcome="ok"}"#],
            1.0
        );

        // A crash: b's runtime goes, and with it its listener; no goodbye.
        std::mem::forget(b);
        crashing.shutdown_background();
        let after = scrape_until(&a, "b is evicted", |s| {
            s[r#"peercloud_evictions_total{cause="refused"}"#]
                + s[r#"peercloud_evictions_total{cause="silent"}"#]
                == 1.0
        })
        .await;
        assert_eq!(after[alive], 0.0);
        assert!(after["peercloud_probes_failed_total"] >= 1.0);
        assert_eq!(after["peercloud_leaves_total"], 0.0);
        a.close().await;
    }
}
