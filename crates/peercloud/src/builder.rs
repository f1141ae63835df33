//! `CloudBuilder`: how a peer is configured and started.

use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use peercloud_core::{Address, Config, Host, Identity, Membership, PeerId};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::cloud::Cloud;
use crate::error::{HandlerError, StartError};
use crate::handler::{self, Handler};
use crate::http::client::HttpClient;
use crate::http::{serve, App, AppState, Plain};
use crate::limits::Limits;
use crate::node::driver::Driver;
use crate::node::{listener, setup, state};
use crate::peer::Peer;
use crate::security::{Certificates, CloudKey, Keyring, Security, Tls, TlsAccept};

/// The largest request body accepted by default: 1 MiB (see
/// [`Limits::body_limit`]).
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// The largest data a peer may have, as JSON: 64 KiB. Gossip carries up to
/// eight members' data in one request, which this keeps well under the
/// body limit.
pub const DATA_LIMIT: usize = 64 << 10;

/// Configures and starts a peer. Every setting has a default; see
/// [`Cloud::builder`].
///
/// ```no_run
/// use std::time::Duration;
/// use peercloud::{Cloud, Config};
///
/// # async fn demo() -> Result<(), peercloud::StartError> {
/// let cloud = Cloud::builder()
///     .seeds(["10.0.0.1:9338", "seed.example.com:9338"])
///     .port(7000)
///     .advertise("203.0.113.7")
///     .membership(Config { probe_interval: Duration::from_millis(500), ..Config::new_lan() })
///     .message_timeout(Duration::from_secs(2))
///     .start()
///     .await?;
/// # Ok(()) }
/// ```
pub struct CloudBuilder {
    seeds: Vec<String>,
    port: Option<u16>,
    random_port: bool,
    bind: Option<IpAddr>,
    listener: Option<std::net::TcpListener>,
    advertise: Option<String>,
    data: Value,
    handler: Handler,
    config: Config,
    message_timeout: Duration,
    connect_timeout: Duration,
    limits: Limits,
    broadcast_concurrency: usize,
    rng_seed: Option<u64>,
    state_dir: Option<PathBuf>,
    security: Security,
}

impl Default for CloudBuilder {
    fn default() -> Self {
        CloudBuilder {
            seeds: Vec::new(),
            port: None,
            random_port: false,
            bind: None,
            listener: None,
            advertise: None,
            data: Value::Object(Default::default()),
            handler: handler::empty_reply(),
            config: Config::default(),
            message_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(1),
            limits: Limits::default(),
            broadcast_concurrency: 256,
            rng_seed: None,
            state_dir: None,
            security: Security::Open,
        }
    }
}

impl CloudBuilder {
    /// Adds a seed, `HOST:PORT` (`127.0.0.1:9338`, `localhost:8080`,
    /// `example.com:4444`, `[::1]:9338`); host names are resolved when used.
    pub fn seed(mut self, seed: impl Into<String>) -> Self {
        self.seeds.push(seed.into());
        self
    }

    /// Adds several seeds.
    pub fn seeds<S: Into<String>>(mut self, seeds: impl IntoIterator<Item = S>) -> Self {
        self.seeds.extend(seeds.into_iter().map(Into::into));
        self
    }

    /// The port to listen on. Unset or 0: 9338 if free, else a random free
    /// port. Any other port must be free, or `start` fails.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// The address to listen on; default: every interface, IPv4 and IPv6.
    /// A specific address is also advertised to the cloud, unless
    /// [`advertise`](Self::advertise) says otherwise.
    pub fn bind(mut self, ip: IpAddr) -> Self {
        self.bind = Some(ip);
        self
    }

    /// Listens on any free port the system picks, without trying 9338 first.
    pub fn random_port(mut self) -> Self {
        self.random_port = true;
        self
    }

    /// Listens on a socket already bound (tests bind `127.0.0.1:0`); `port`
    /// and `bind` are then ignored.
    pub fn listener(mut self, listener: std::net::TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    /// The address other peers should use for this one (sent as `ip` when
    /// joining), for hosts behind NAT or with several interfaces.
    pub fn advertise(mut self, host: impl Into<String>) -> Self {
        self.advertise = Some(host.into());
        self
    }

    /// This peer's data, seen by every other peer; default `{}`.
    pub fn data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }

    /// The message handler: an async function of the sender and the body,
    /// whose result is the reply. Without one, messages are answered `{}`.
    pub fn on_message<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Peer, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, HandlerError>> + Send + 'static,
    {
        self.handler = handler::boxed(handler);
        self
    }

    /// Timing of the membership: probes, calls, joins, leaving. Its
    /// `max_joins_per_ip_per_minute` and `max_members` are not taken from here:
    /// they are [`Limits`], set with [`limits`](Self::limits).
    pub fn membership(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// How long a message waits for its reply; default 5 s.
    pub fn message_timeout(mut self, timeout: Duration) -> Self {
        self.message_timeout = timeout;
        self
    }

    /// How long opening a connection to a peer may take; default 1 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The largest request body accepted (larger ones get 413); default 1 MiB.
    /// The same as setting [`Limits::body_limit`].
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.limits.body_limit = bytes;
        self
    }

    /// What this peer grants others: connections in all and per address,
    /// timeouts of each part of a request, body size, joins per address per
    /// minute, members. Every field has a safe default; see [`Limits`].
    /// Replaces every limit, including one set by
    /// [`body_limit`](Self::body_limit) before.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), peercloud::StartError> {
    /// let mut limits = peercloud::Limits::default();
    /// limits.max_members = 5000;
    /// let cloud = peercloud::Cloud::builder().limits(limits).start().await?;
    /// # Ok(()) }
    /// ```
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How many messages of one broadcast are in flight at once; default 256.
    pub fn broadcast_concurrency(mut self, n: usize) -> Self {
        self.broadcast_concurrency = n.max(1);
        self
    }

    /// Seeds the random choices (seed order, probe order), for reproducible
    /// runs; default: random.
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = Some(seed);
        self
    }

    /// A directory where this peer remembers its members (made if need
    /// be). At the next start, the members remembered there are tried
    /// after the seeds, so a restarted peer finds its cloud even when its
    /// seeds are down.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), peercloud::StartError> {
    /// let cloud = peercloud::Cloud::builder()
    ///     .seed("10.0.0.1:9338")
    ///     .state_dir("/var/lib/peercloud")
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Makes the peer private with one cloud key: see
    /// [`keyring`](Self::keyring).
    pub fn key(self, key: CloudKey) -> Self {
        self.keyring(Keyring::new(key))
    }

    /// Makes the peer private: every connection, in and out, is TLS 1.3
    /// authenticated by the cloud key, so only peers holding a key of the
    /// keyring can join, read the member list or send to this peer. It
    /// speaks with the keyring's first key and accepts all of them;
    /// [`Cloud::set_keyring`] replaces the keyring while it runs, which is
    /// how a key is rotated with no downtime.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let keys = peercloud::Keyring::read("/etc/peercloud/keys")?;
    /// let cloud = peercloud::Cloud::builder()
    ///     .seed("10.0.0.1:9338")
    ///     .keyring(keys)
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn keyring(mut self, keyring: Keyring) -> Self {
        self.security = Security::Key(keyring);
        self
    }

    /// Makes the peer private with certificates: every connection is TLS
    /// 1.3, this peer presents its certificate, and it accepts only peers
    /// whose certificate chains to the CA.
    pub fn certificates(mut self, certificates: Certificates) -> Self {
        self.security = Security::Certificates(certificates);
        self
    }

    /// How the peer protects its connections; default [`Security::Open`].
    pub fn security(mut self, security: Security) -> Self {
        self.security = security;
        self
    }

    /// Listens, then joins through the first seed that accepts (seeds are
    /// tried in random order), or starts a new cloud alone when none does;
    /// [`Cloud::start_outcome`] tells which.
    pub async fn start(self) -> Result<Cloud, StartError> {
        let mut seeds = self
            .seeds
            .iter()
            .map(|s| {
                s.parse::<Address>()
                    .map_err(|_| StartError::InvalidSeed { seed: s.clone() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(dir) = &self.state_dir {
            for remembered in state::open(dir)? {
                if !seeds.contains(&remembered) {
                    seeds.push(remembered);
                }
            }
        }
        self.limits.validate()?;
        let config = Config {
            max_joins_per_ip_per_minute: self.limits.max_joins_per_ip_per_minute,
            max_members: self.limits.max_members,
            ..self.config
        };
        config.validate()?;
        let data_size = serde_json::to_vec(&self.data).map_or(0, |json| json.len());
        if data_size > DATA_LIMIT {
            return Err(StartError::DataTooLarge {
                size: data_size,
                limit: DATA_LIMIT,
            });
        }
        let listener = match self.listener {
            Some(listener) => listener,
            None if self.random_port => listener::bind_random(self.bind)?,
            None => listener::bind(self.bind, self.port)?,
        };
        let bind_error = |source| StartError::Bind {
            addr: "the given listener".to_owned(),
            source,
        };
        listener.set_nonblocking(true).map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(bind_error)?;
        let tls = Tls::new(&self.security)?;
        if tls.is_none() && !local_addr.ip().is_loopback() {
            tracing::warn!(
                "listening on {local_addr} with no key and no TLS: anyone who reaches this port \
                 can join the cloud, read it and send to it (see --key-file)"
            );
        }
        let advertise = advertised_host(self.advertise, self.bind)?;

        let identity = Identity {
            id: PeerId::from_random_bytes(rand::random()),
            port: local_addr.port(),
            advertise,
            data: self.data,
        };
        let rng_seed = self.rng_seed.unwrap_or_else(rand::random);
        let core = Membership::new(identity, config, rng_seed);
        let client = HttpClient::with_tls(
            self.connect_timeout,
            tls.as_ref(),
            self.limits.max_idle_connections,
        );
        let node = setup::assemble(core, client.clone(), client, self.message_timeout);
        let app = App::new(AppState::new(node.link.clone(), self.handler, &self.limits));
        if let Some(dir) = self.state_dir {
            tokio::spawn(state::keep(dir, node.link.snapshots()));
        }
        let accept = tls
            .as_ref()
            .map(|tls| TlsAccept::new(tls, self.limits.handshake_timeout));
        let server = Server {
            listener,
            app,
            limits: self.limits,
            accept,
        };
        let stopped = tokio::spawn(supervise(server, node.driver, seeds));
        let (link, leave_tx, events_tx) = (node.link, node.leave_tx, node.events_tx);
        let (started_rx, first_events) = (node.started_rx, node.first_events);
        let Ok(start) = started_rx.await else {
            return Err(StartError::Stopped);
        };
        Ok(Cloud {
            link,
            start,
            local_addr,
            leave_tx,
            events_tx,
            first_events: Mutex::new(Some(first_events)),
            stopped: Mutex::new(Some(stopped)),
            broadcast_concurrency: self.broadcast_concurrency,
            tls,
        })
    }
}

fn advertised_host(
    advertise: Option<String>,
    bind: Option<IpAddr>,
) -> Result<Option<Host>, StartError> {
    match (advertise, bind) {
        (Some(host), _) => Host::parse(&host)
            .map(Some)
            .map_err(|_| StartError::InvalidAdvertise(host)),
        (None, Some(ip)) if !ip.is_unspecified() => Ok(Some(Host::from_ip(ip))),
        (None, _) => Ok(None),
    }
}

/// What the peer serves, and how.
struct Server {
    listener: tokio::net::TcpListener,
    app: App,
    limits: Limits,
    /// A private peer's TLS handshakes; plain HTTP without.
    accept: Option<TlsAccept>,
}

/// Serves and drives the peer; once the driver has left the cloud, stops the
/// server, giving open requests [`Cloud::SERVER_GRACE`] to finish.
async fn supervise(server: Server, driver: Driver<HttpClient>, seeds: Vec<Address>) {
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let mut serving: JoinHandle<()> = tokio::spawn(async move {
        let stopped = async move {
            let _ = stop_rx.await;
        };
        let Server {
            listener,
            app,
            limits,
            accept,
        } = server;
        match accept {
            Some(tls) => serve(listener, tls, app, &limits, stopped).await,
            None => serve(listener, Plain, app, &limits, stopped).await,
        }
    });
    driver.run(seeds).await;
    let _ = stop_tx.send(());
    // Aborting the server drops every connection it still serves.
    if tokio::time::timeout(Cloud::SERVER_GRACE, &mut serving)
        .await
        .is_err()
    {
        serving.abort();
    }
}
