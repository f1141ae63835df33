//! One machine's processors, shared by every simulated peer, when a run
//! asks for them ([`Sim::share_processors`]): each request and reply
//! takes processor time to read, and each timer that fires some to run,
//! and either waits while every processor is busy.
//!
//! Without them, the simulator's peers do their work in no time, which is
//! what a cloud of one peer per machine looks like. A thousand real peers
//! in one process on two cores (the bench's swarm) are not so: while the
//! cloud forms the process is saturated, answers come late, probes time
//! out, and what a rule costs in work changes how fast the lists fill.
//! This model puts that cost in: a fixed time per message and a time per
//! KiB of its body, on a number of processors that take the messages and
//! timers in the order they come. That the timers wait too matters: a
//! peer whose timers ran on time however late its answers came would keep
//! probing at its pace, and a saturated machine would never catch up.

use std::time::Duration;

use crate::protocol::Protocol;
use crate::sim::Sim;

/// What the shared processors are: how many, and what a message costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Processors {
    /// How many messages are read at once.
    pub cores: usize,
    /// What any message costs: the connection, the HTTP, the handler.
    pub per_message: Duration,
    /// What each KiB of its body costs on top (JSON, copies).
    pub per_kib: Duration,
    /// What a peer's timer costs when it fires: it waits for a processor
    /// like a message, so a saturated machine's timers run late, as a
    /// real process's do.
    pub per_timer: Duration,
}

impl Processors {
    /// Roughly the bench's swarm: two cores, and costs at which 1,000
    /// peers joining at once through one seed saturate them for seconds.
    /// The real swarm, saturated, made about 4,300 calls (8,600 messages)
    /// and sent about 20 MB a second (its 2 s reports): 8,600 × 300 µs
    /// and 20 MB × 20 µs a KiB are about 3 s of processor a second, a
    /// little more than two cores have, as the swarm's queues grew. Its
    /// cloud formed in 13 to 16 s from the first start; the model's, at
    /// these costs, in 7 to 10 s (BENCHMARKS.md).
    pub fn two_cores() -> Self {
        Processors {
            cores: 2,
            per_message: Duration::from_micros(300),
            per_kib: Duration::from_micros(20),
            per_timer: Duration::from_micros(20),
        }
    }

    fn cost(&self, work: Work) -> Duration {
        match work {
            Work::Message { bytes } => {
                self.per_message + self.per_kib.mul_f64(bytes as f64 / 1024.0)
            }
            Work::Timer => self.per_timer,
        }
    }
}

/// What the processors are asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Work {
    /// Read a message with a body of `bytes`.
    Message { bytes: usize },
    /// Run a peer's timer.
    Timer,
}

/// The processors' state: when each is next free.
#[derive(Debug)]
pub(crate) struct Cpu {
    processors: Processors,
    free_at: Vec<Duration>,
}

impl Cpu {
    pub(crate) fn new(processors: Processors) -> Self {
        Cpu {
            processors,
            free_at: vec![Duration::ZERO; processors.cores.max(1)],
        }
    }

    /// Does `work` that came at `now` on the processor free first;
    /// returns when it is done, and the processor time it took.
    fn run(&mut self, now: Duration, work: Work) -> (Duration, Duration) {
        let cost = self.processors.cost(work);
        let Some(free_at) = self.free_at.iter_mut().min() else {
            return (now, cost);
        };
        *free_at = (*free_at).max(now) + cost;
        (*free_at, cost)
    }
}

impl<P: Protocol> Sim<P> {
    /// From now on, every message and timer waits for and takes time on
    /// `processors` shared by all the peers (see the module's notes).
    pub fn share_processors(&mut self, processors: Processors) {
        self.cpu = Some(Cpu::new(processors));
    }

    /// When `work` that comes now is done, if the processors are
    /// shared; `None` when it is done at once.
    pub(crate) fn done_at(&mut self, work: Work) -> Option<Duration> {
        let (done_at, cost) = self.cpu.as_mut()?.run(self.now, work);
        self.stats.processor_time += cost;
        Some(done_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_wait_while_every_processor_is_busy() {
        let processors = Processors {
            cores: 2,
            per_message: Duration::from_millis(1),
            per_kib: Duration::from_millis(1),
            per_timer: Duration::from_micros(100),
        };
        let mut cpu = Cpu::new(processors);
        let ms = Duration::from_millis;
        let message = |bytes| Work::Message { bytes };
        let us = Duration::from_micros;
        // Two at once are read side by side; the third waits for the
        // first processor free; a large one costs its KiB.
        assert_eq!(cpu.run(ms(10), message(0)), (ms(11), ms(1)));
        assert_eq!(cpu.run(ms(10), message(1024)), (ms(12), ms(2)));
        assert_eq!(cpu.run(ms(10), message(0)), (ms(12), ms(1)));
        // A timer waits its turn too.
        assert_eq!(cpu.run(ms(10), Work::Timer), (ms(12) + us(100), us(100)));
        // Idle again later: at once.
        assert_eq!(
            cpu.run(ms(50), message(512)),
            (ms(51) + us(500), ms(1) + us(500))
        );
    }
}
