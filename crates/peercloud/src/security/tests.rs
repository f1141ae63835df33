//! The TLS layer alone, on loopback: a tiny server behind [`TlsAccept`]
//! and the peers' own client, with keys and certificates made here. What
//! is checked: who gets through, who is refused, how each side names the
//! refusal, and that a refused request never reaches the application.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use peercloud_core::{Address, PeerId};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tokio::net::TcpListener;

use super::*;
use crate::error::SendError;
use crate::http::client::{HttpClient, IdHeader};

/// A server that answers `{"ok":true}` to everything it gets through TLS
/// (or plain HTTP when `tls` is `None`) and counts what it answered.
struct Server {
    address: Address,
    answered: Arc<AtomicUsize>,
    /// TLS connections that ended.
    closed: Arc<AtomicUsize>,
    /// TLS handshakes that succeeded.
    handshakes: Arc<AtomicUsize>,
}

async fn serve(tls: Option<Tls>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let answered = Arc::new(AtomicUsize::new(0));
    let counter = answered.clone();
    let closed = Arc::new(AtomicUsize::new(0));
    let closed_count = closed.clone();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let handshake_count = handshakes.clone();
    let accept = tls.map(|tls| TlsAccept::new(&tls, Duration::from_secs(2)));
    tokio::spawn(async move {
        // Bounded: each test makes a handful of connections.
        for _ in 0..64 {
            let Ok((tcp, remote)) = listener.accept().await else {
                return;
            };
            let (accept, counter, closed) = (accept.clone(), counter.clone(), closed_count.clone());
            let handshakes = handshake_count.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_request| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                            b"{\"ok\":true}",
                        ))))
                    }
                });
                let http = hyper::server::conn::http1::Builder::new();
                match accept {
                    Some(accept) => {
                        if let Some(stream) = accept.handshake(tcp, remote).await {
                            handshakes.fetch_add(1, Ordering::SeqCst);
                            let distrusted = accept.distrusted(&stream);
                            let connection = http.serve_connection(TokioIo::new(stream), service);
                            tokio::pin!(connection, distrusted);
                            tokio::select! {
                                _ = &mut connection => {}
                                () = &mut distrusted => {
                                    connection.as_mut().graceful_shutdown();
                                    let _ = connection.await;
                                }
                            }
                            closed.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    None => {
                        let _ = http.serve_connection(TokioIo::new(tcp), service).await;
                    }
                }
            });
        }
    });
    Server {
        address: address.parse().expect("an address"),
        answered,
        closed,
        handshakes,
    }
}

fn tls(security: &Security) -> Tls {
    Tls::new(security).expect("settings").expect("private")
}

fn key_mode(keys: &[&CloudKey]) -> Security {
    Security::Key(Keyring::from_keys(keys.iter().map(|k| (*k).clone())).expect("a key"))
}

async fn send(client: &HttpClient, to: &Server) -> Result<serde_json::Value, SendError> {
    let me = IdHeader::of(&PeerId::parse("tester").expect("an id"));
    client
        .message(
            &to.address,
            &me,
            Bytes::from_static(b"{}"),
            Duration::from_secs(3),
        )
        .await
}

fn client_of(security: &Security) -> HttpClient {
    let tls = Tls::new(security).expect("settings");
    HttpClient::with_tls(Duration::from_secs(1), tls.as_ref(), 16)
}

fn unauthorized(result: Result<serde_json::Value, SendError>) -> String {
    match result {
        Err(SendError::Unauthorized { reason, .. }) => reason,
        other => panic!("expected an unauthorized error, got {other:?}"),
    }
}

#[tokio::test]
async fn peers_of_one_key_talk() {
    let key = CloudKey::generate();
    let server = serve(Some(tls(&key_mode(&[&key])))).await;
    let reply = send(&client_of(&key_mode(&[&key])), &server).await;
    assert_eq!(reply.expect("a reply"), serde_json::json!({"ok": true}));
    assert_eq!(server.answered.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_private_client_reuses_its_connection_one_handshake_for_many_requests() {
    let key = CloudKey::generate();
    let server = serve(Some(tls(&key_mode(&[&key])))).await;
    let client = client_of(&key_mode(&[&key]));
    for _ in 0..5 {
        send(&client, &server).await.expect("a reply");
    }
    assert_eq!(server.answered.load(Ordering::SeqCst), 5);
    assert_eq!(server.handshakes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_wrong_key_is_refused_before_the_application_sees_anything() {
    let (right, wrong) = (CloudKey::generate(), CloudKey::generate());
    let server = serve(Some(tls(&key_mode(&[&right])))).await;
    let reason = unauthorized(send(&client_of(&key_mode(&[&wrong])), &server).await);
    // The client refuses the server's certificate first: it is not of its key.
    assert!(reason.contains("wrong key"), "{reason}");
    assert_eq!(server.answered.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_client_that_accepts_the_servers_key_but_speaks_another_is_refused() {
    let (old, new) = (CloudKey::generate(), CloudKey::generate());
    let server = serve(Some(tls(&key_mode(&[&old])))).await;
    // The client speaks `new` and accepts `old`: the server does not
    // accept `new`, and says so in an alert the client names.
    let reason = unauthorized(send(&client_of(&key_mode(&[&new, &old])), &server).await);
    assert!(
        reason.contains("refused this side's certificate"),
        "{reason}"
    );
    assert_eq!(server.answered.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn rotation_in_three_steps_never_breaks_a_link() {
    let (old, new) = (CloudKey::generate(), CloudKey::generate());
    let server_tls = tls(&key_mode(&[&old]));
    let server = serve(Some(server_tls.clone())).await;
    let client_tls = tls(&key_mode(&[&old]));
    // A fresh client per step: each step's first connection handshakes
    // with the keyring of the moment.
    let client = || HttpClient::with_tls(Duration::from_secs(1), Some(&client_tls), 16);
    let ring =
        |keys: &[&CloudKey]| Keyring::from_keys(keys.iter().map(|k| (*k).clone())).expect("a key");
    let steps: [&[&CloudKey]; 3] = [&[&old, &new], &[&new, &old], &[&new]];
    for (i, keys) in steps.iter().enumerate() {
        // Step by step, the server first, then the client: between the
        // two, they hold different keyrings, and still talk.
        server_tls.replace_keyring(&ring(keys)).expect("key mode");
        send(&client(), &server)
            .await
            .unwrap_or_else(|e| panic!("step {i}, server first: {e}"));
        client_tls.replace_keyring(&ring(keys)).expect("key mode");
        send(&client(), &server)
            .await
            .unwrap_or_else(|e| panic!("step {i}, both: {e}"));
    }
    // The old key is gone: a client that only holds it is refused.
    let reason = unauthorized(send(&client_of(&key_mode(&[&old])), &server).await);
    assert!(reason.contains("wrong key"), "{reason}");
}

#[tokio::test]
async fn removing_a_key_closes_the_connections_it_opened() {
    let (old, new) = (CloudKey::generate(), CloudKey::generate());
    let server_tls = tls(&key_mode(&[&old, &new]));
    let server = serve(Some(server_tls.clone())).await;
    // One client, one pooled connection, authenticated with `old`.
    let client = client_of(&key_mode(&[&old]));
    send(&client, &server).await.expect("a reply");
    send(&client, &server)
        .await
        .expect("a reply on the same connection");
    assert_eq!(server.closed.load(Ordering::SeqCst), 0);
    // Replacing the keyring with one that still holds `old` keeps it.
    server_tls
        .replace_keyring(&Keyring::from_keys([new.clone(), old.clone()]).expect("keys"))
        .expect("key mode");
    send(&client, &server).await.expect("still trusted");
    assert_eq!(server.closed.load(Ordering::SeqCst), 0);
    // Removing `old` closes it at once, and no new one can be made.
    server_tls
        .replace_keyring(&Keyring::new(new.clone()))
        .expect("key mode");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while server.closed.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the connection stayed open"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let reason = unauthorized(send(&client, &server).await);
    assert!(reason.contains("wrong key"), "{reason}");
    assert_eq!(server.answered.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_open_client_gets_one_clear_refusal_from_a_private_peer() {
    let server = serve(Some(tls(&key_mode(&[&CloudKey::generate()])))).await;
    let reason = unauthorized(send(&HttpClient::new(Duration::from_secs(1)), &server).await);
    assert!(reason.contains("private cloud"), "{reason}");
    assert_eq!(server.answered.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_plain_request_gets_426_with_a_json_body_that_names_no_one() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = serve(Some(tls(&key_mode(&[&CloudKey::generate()])))).await;
    let mut tcp = tokio::net::TcpStream::connect(server.address.to_string())
        .await
        .expect("connect");
    let request = "POST /peers HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}";
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_string(&mut answer))
        .await
        .expect("an answer in time")
        .expect("read");
    assert!(answer.starts_with("HTTP/1.1 426 "), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).expect("a body");
    let body: serde_json::Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(body["error"], "private cloud");
    assert_eq!(server.answered.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_private_client_refuses_an_open_peer() {
    let server = serve(None).await;
    let reason = unauthorized(send(&client_of(&key_mode(&[&CloudKey::generate()])), &server).await);
    assert!(reason.contains("does not speak TLS"), "{reason}");
}

/// A CA, and a function making leaf certificates it signs, as PEM.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("a key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("a CA");
        Ca { cert, key }
    }

    /// A peer's certificates: its own, signed by this CA, and `trusted`
    /// as the CA it accepts.
    fn peer(&self, trusted: &Ca) -> Certificates {
        let key = KeyPair::generate().expect("a key");
        let params = CertificateParams::new(vec!["peer.test".to_owned()]).expect("params");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("a leaf");
        Certificates::from_pem(&cert.pem(), &key.serialize_pem(), &trusted.cert.pem())
            .expect("certificates")
    }
}

#[tokio::test]
async fn certificates_of_one_ca_talk_and_another_cas_are_refused() {
    let (ca, other) = (Ca::new("cloud CA"), Ca::new("another CA"));
    let server = serve(Some(tls(&Security::Certificates(ca.peer(&ca))))).await;
    let reply = send(&client_of(&Security::Certificates(ca.peer(&ca))), &server).await;
    assert_eq!(reply.expect("a reply"), serde_json::json!({"ok": true}));
    // Signed by another CA, even one that trusts the cloud's CA.
    let stranger = Security::Certificates(other.peer(&ca));
    let reason = unauthorized(send(&client_of(&stranger), &server).await);
    assert!(
        reason.contains("refused this side's certificate"),
        "{reason}"
    );
    // A client of the cloud's CA refuses a server of another CA.
    let impostor = serve(Some(tls(&Security::Certificates(other.peer(&ca))))).await;
    let reason =
        unauthorized(send(&client_of(&Security::Certificates(ca.peer(&ca))), &impostor).await);
    assert!(
        reason.contains("does not chain to this side's CA"),
        "{reason}"
    );
    assert_eq!(server.answered.load(Ordering::SeqCst), 1);
    assert_eq!(impostor.answered.load(Ordering::SeqCst), 0);
}

#[test]
fn a_key_cannot_be_replaced_in_certificate_mode() {
    let ca = Ca::new("cloud CA");
    let tls = tls(&Security::Certificates(ca.peer(&ca)));
    let ring = Keyring::new(CloudKey::generate());
    assert!(matches!(
        tls.replace_keyring(&ring),
        Err(ReplaceKeyringError::NotKeyMode)
    ));
}

#[tokio::test]
async fn a_silent_connection_is_dropped_after_the_handshake_timeout() {
    let tls = tls(&key_mode(&[&CloudKey::generate()]));
    let accept = TlsAccept::new(&tls, Duration::from_millis(200));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address: SocketAddr = listener.local_addr().expect("address");
    let _silent = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let (tcp, remote) = listener.accept().await.expect("accept");
    let outcome = tokio::time::timeout(Duration::from_secs(5), accept.handshake(tcp, remote)).await;
    assert!(
        matches!(outcome, Ok(None)),
        "the handshake should give up by itself"
    );
}
