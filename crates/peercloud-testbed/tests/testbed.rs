//! The testbed itself, with root: hosts get their addresses, commands run
//! inside them, a broken pair has no route, and the drop deletes the
//! namespaces and kills what was left running in them. Without root each
//! test prints why it is skipped (and fails where `PEERCLOUD_REQUIRE_NETNS`
//! is set). Touches only the testbeds it builds and the processes it
//! starts in them.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use peercloud_testbed::{skip_reason, Bridge, Host, Testbed};

const THREE: [(&str, Bridge); 3] = [("a", Bridge::Zero), ("b", Bridge::Zero), ("c", Bridge::One)];

fn testbed() -> Option<Testbed> {
    if let Some(why) = skip_reason() {
        println!("skipped: network namespaces unavailable ({why})");
        return None;
    }
    Some(Testbed::new(&THREE).unwrap())
}

/// What `ip <args>`, run inside `host`, prints; `Err` with its stderr if
/// it fails.
fn ip_in(host: &Host, args: &[&str]) -> Result<String, String> {
    let output = host.command("ip").args(args).output().unwrap();
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn namespaces() -> String {
    let output = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn each_host_has_its_address_on_eth0_and_a_route_to_the_others() {
    let Some(bed) = testbed() else { return };
    for (host, ip) in bed
        .hosts()
        .iter()
        .zip(["10.77.0.1", "10.77.0.2", "10.77.0.3"])
    {
        let shown = ip_in(host, &["-4", "addr", "show", "dev", "eth0"]).unwrap();
        assert!(
            shown.contains(&format!("{ip}/24")),
            "{}: {shown}",
            host.name()
        );
        assert_eq!(host.ip().to_string(), ip);
    }
    let (a, c) = (bed.host("a").unwrap(), bed.host("c").unwrap());
    assert_eq!(bed.hosts_on(Bridge::One).collect::<Vec<_>>(), [c]);
    let target = c.ip().to_string();
    ip_in(a, &["route", "get", &target]).unwrap();

    bed.break_pair(a, c).unwrap();
    assert!(ip_in(a, &["route", "get", &target]).is_err());
    assert!(ip_in(c, &["route", "get", &a.ip().to_string()]).is_err());
    let b = bed.host("b").unwrap();
    ip_in(b, &["route", "get", &target]).unwrap();
    bed.repair_pair(a, c).unwrap();
    ip_in(a, &["route", "get", &target]).unwrap();
}

#[test]
fn dropping_the_testbed_deletes_its_namespaces_and_kills_what_runs_there() {
    let Some(bed) = testbed() else { return };
    let names: Vec<String> = bed
        .hosts()
        .iter()
        .map(|h| h.namespace().to_owned())
        .collect();
    let listed = namespaces();
    assert!(
        names.iter().all(|ns| listed.contains(ns.as_str())),
        "{listed}"
    );
    let mut left = bed.hosts()[0]
        .command("sleep")
        .arg("60")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();

    drop(bed);
    let listed = namespaces();
    assert!(
        names.iter().all(|ns| !listed.contains(ns.as_str())),
        "{listed}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut status = None;
    for _ in 0..100 {
        status = left.try_wait().unwrap();
        if status.is_some() || Instant::now() >= deadline {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    if status.is_none() {
        let _ = left.kill();
        let _ = left.wait();
        panic!("the sleep in the dropped testbed still ran after 5 s");
    }
}
