//! The simulated network's nature: how long a message takes and how often
//! one is lost. Faults that change during a run (partitions, broken links,
//! crashes, stalls) are the simulation's, not the network's.

use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// How long one message (a request or a reply) takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    /// Always the same.
    Fixed(Duration),
    /// Uniform between the two.
    Uniform {
        /// The shortest.
        min: Duration,
        /// The longest.
        max: Duration,
    },
    /// Mostly `typical`, with a long tail: one message in `1 / tail_share`
    /// takes up to `tail` (a congested link, a busy host).
    Tailed {
        /// The usual latency (uniform from half of it to one and a half).
        typical: Duration,
        /// The longest tail latency.
        tail: Duration,
        /// The share of messages in the tail, from 0 to 1.
        tail_share: f64,
    },
}

impl Latency {
    pub(crate) fn sample(&self, rng: &mut ChaCha8Rng) -> Duration {
        match *self {
            Latency::Fixed(d) => d,
            Latency::Uniform { min, max } if max > min => {
                min + (max - min).mul_f64(rng.random::<f64>())
            }
            Latency::Uniform { min, .. } => min,
            Latency::Tailed {
                typical,
                tail,
                tail_share,
            } => {
                if rng.random::<f64>() < tail_share {
                    typical + tail.saturating_sub(typical).mul_f64(rng.random::<f64>())
                } else {
                    typical.mul_f64(0.5 + rng.random::<f64>())
                }
            }
        }
    }
}

/// The network between every two peers.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConfig {
    /// One way.
    pub latency: Latency,
    /// The chance that one message is lost, from 0 to 1.
    pub loss: f64,
}

impl NetConfig {
    /// A local network: 0.2 to 2 ms one way, nothing lost.
    pub fn lan() -> Self {
        NetConfig {
            latency: Latency::Uniform {
                min: Duration::from_micros(200),
                max: Duration::from_millis(2),
            },
            loss: 0.0,
        }
    }

    /// No latency, nothing lost: the order of messages is all that varies.
    pub fn instant() -> Self {
        NetConfig {
            latency: Latency::Fixed(Duration::ZERO),
            loss: 0.0,
        }
    }

    /// The same network, losing this share of messages.
    pub fn with_loss(self, loss: f64) -> Self {
        NetConfig { loss, ..self }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn uniform_latencies_stay_in_their_range() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let latency = Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(3),
        };
        for _ in 0..1000 {
            let d = latency.sample(&mut rng);
            assert!(d >= Duration::from_millis(1) && d <= Duration::from_millis(3));
        }
    }

    #[test]
    fn a_tail_takes_about_its_share() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let latency = Latency::Tailed {
            typical: Duration::from_millis(1),
            tail: Duration::from_millis(500),
            tail_share: 0.1,
        };
        let slow = (0..10_000)
            .filter(|_| latency.sample(&mut rng) > Duration::from_millis(2))
            .count();
        assert!((800..1200).contains(&slow), "{slow} of 10000 in the tail");
    }
}
