//! The original package's README example, written with the Rust library: a
//! peer that joins the cloud of the first seed that answers (or starts one),
//! broadcasts a greeting, then every 5 seconds prints its peers and says
//! hello to one of them at random. Ctrl-C leaves the cloud properly.
//!
//! ```text
//! cargo run --example original            # first peer: port 9338
//! cargo run --example original            # second peer joins the first
//! PORT=8080 cargo run --example original  # a third, on port 8080
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use peercloud::Cloud;
use rand::seq::IndexedRandom;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse()?,
        Err(_) => 0,
    };
    let joined = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
    let cloud = Cloud::builder()
        .seeds(["127.0.0.1:9338", "localhost:8080", "example.com:4444"])
        .port(port)
        .data(json!({"port": port, "joined": joined}))
        .on_message(|peer, body| async move {
            println!("peer: {:#}", peer.data());
            println!("body: {body:#}");
            Ok(json!({"status": "received"}))
        })
        .start()
        .await?;
    println!(
        "listening on port {} ({:?})",
        cloud.port(),
        cloud.start_outcome()
    );

    cloud.send(json!({"message": "hi all"})).await; // broadcast to all peers
    let mut every_5s = tokio::time::interval(Duration::from_secs(5));
    every_5s.tick().await;
    loop {
        tokio::select! {
            _ = every_5s.tick() => {
                let peers = cloud.peers();
                let data: Vec<_> = peers.iter().map(|p| p.data().clone()).collect();
                println!("got {} peers : {:#}", peers.len(), json!(data));
                if let Some(peer) = peers.choose(&mut rand::rng()) {
                    if let Err(e) = peer.send(json!({"message": "hello"})).await {
                        eprintln!("{e}");
                    }
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    cloud.close().await;
    Ok(())
}
