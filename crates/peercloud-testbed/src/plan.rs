//! The plan of a testbed, before anything is created: the names of its
//! namespaces and links, and each host's address. Pure: it touches
//! nothing, so it is tested without root.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{Bridge, Error, Host};

/// The subnet every host has its address in: `10.77.0.0/24`. One subnet
/// for all, so that cutting the link between the bridges splits them.
pub const SUBNET: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 0);

/// The length of [`SUBNET`]'s prefix.
pub const PREFIX_LEN: u8 = 24;

/// The most hosts one testbed holds: the host addresses of one /24.
pub const MAX_HOSTS: usize = 254;

/// The longest host name (it becomes part of a namespace's name).
pub const MAX_NAME_LEN: usize = 16;

/// The suffix of the switch namespace's name; no host may be named so.
const SWITCH: &str = "sw";

/// Numbers the testbeds (and probes) of this process, for unique names.
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// What a testbed will be made of.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The switch namespace's name.
    pub(crate) switch: String,
    /// The hosts, in the layout's order.
    pub(crate) hosts: Vec<Host>,
}

/// A prefix no other testbed of any process has now: `pc<pid>-<n>`.
pub(crate) fn unique_prefix() -> String {
    prefix(std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn prefix(pid: u32, n: usize) -> String {
    format!("pc{pid}-{n}")
}

/// The address of the `index`-th host (from 0): `10.77.0.<index + 1>`.
/// `None` past [`MAX_HOSTS`].
pub fn host_address(index: usize) -> Option<Ipv4Addr> {
    let last = u8::try_from(index.checked_add(1)?).ok()?;
    (usize::from(last) <= MAX_HOSTS).then(|| {
        let [a, b, c, _] = SUBNET.octets();
        Ipv4Addr::new(a, b, c, last)
    })
}

/// Plans a testbed whose namespaces' names start with `prefix`: the switch
/// `<prefix>-sw`, and per `(name, bridge)` of `layout` a host
/// `<prefix>-<name>` whose switch port is `p<N>` and address `10.77.0.N`,
/// N counting from 1 in the layout's order.
pub(crate) fn plan(prefix: &str, layout: &[(&str, Bridge)]) -> Result<Plan, Error> {
    if layout.is_empty() {
        return Err(Error::Layout("no hosts".to_owned()));
    }
    let mut hosts: Vec<Host> = Vec::with_capacity(layout.len());
    for (index, &(name, bridge)) in layout.iter().enumerate() {
        check_name(name)?;
        if hosts.iter().any(|h| h.name == name) {
            return Err(Error::Layout(format!("two hosts are named {name:?}")));
        }
        let ip = host_address(index).ok_or_else(|| {
            Error::Layout(format!(
                "{} hosts: a /{PREFIX_LEN} holds at most {MAX_HOSTS}",
                layout.len()
            ))
        })?;
        hosts.push(Host {
            name: name.to_owned(),
            ns: format!("{prefix}-{name}"),
            ip,
            bridge,
            port: format!("p{}", index + 1),
        });
    }
    Ok(Plan {
        switch: format!("{prefix}-{SWITCH}"),
        hosts,
    })
}

/// A host name is 1 to [`MAX_NAME_LEN`] ASCII letters, digits, `-` or
/// `_`, and not the switch's.
fn check_name(name: &str) -> Result<(), Error> {
    let fits = (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !fits {
        return Err(Error::Layout(format!(
            "host name {name:?} is not 1 to {MAX_NAME_LEN} ASCII letters, digits, '-' or '_'"
        )));
    }
    if name == SWITCH {
        return Err(Error::Layout(format!("host name {name:?} is the switch's")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE: [(&str, Bridge); 5] = [
        ("h1", Bridge::Zero),
        ("h2", Bridge::Zero),
        ("h3", Bridge::Zero),
        ("h4", Bridge::One),
        ("h5", Bridge::One),
    ];

    fn layout_error(layout: &[(&str, Bridge)]) -> String {
        match plan("pc1-0", layout) {
            Err(Error::Layout(why)) => why,
            other => panic!("expected a layout error, got {other:?}"),
        }
    }

    #[test]
    fn hosts_get_addresses_and_ports_in_layout_order_and_names_under_the_prefix() {
        let plan = plan("pc42-3", &FIVE).unwrap();
        assert_eq!(plan.switch, "pc42-3-sw");
        let shown: Vec<(String, String, String, Bridge)> = plan
            .hosts
            .iter()
            .map(|h| (h.ns.clone(), h.ip.to_string(), h.port.clone(), h.bridge))
            .collect();
        assert_eq!(
            shown[0],
            (
                "pc42-3-h1".into(),
                "10.77.0.1".into(),
                "p1".into(),
                Bridge::Zero
            )
        );
        assert_eq!(
            shown[4],
            (
                "pc42-3-h5".into(),
                "10.77.0.5".into(),
                "p5".into(),
                Bridge::One
            )
        );
        assert_eq!(plan.hosts[3].name(), "h4");
    }

    #[test]
    fn the_addresses_are_the_hosts_of_one_slash_24() {
        assert_eq!(host_address(0), Some(Ipv4Addr::new(10, 77, 0, 1)));
        assert_eq!(host_address(253), Some(Ipv4Addr::new(10, 77, 0, 254)));
        assert_eq!(host_address(254), None);
        assert_eq!(host_address(usize::MAX), None);
    }

    #[test]
    fn a_layout_past_the_subnet_is_refused() {
        let names: Vec<String> = (0..=MAX_HOSTS).map(|i| format!("h{i}")).collect();
        let layout: Vec<(&str, Bridge)> =
            names.iter().map(|n| (n.as_str(), Bridge::Zero)).collect();
        assert!(plan("pc1-0", &layout[..MAX_HOSTS]).is_ok());
        assert!(layout_error(&layout).contains("at most 254"));
    }

    #[test]
    fn empty_repeated_odd_or_switch_names_are_refused() {
        assert!(layout_error(&[]).contains("no hosts"));
        let twice = [("h1", Bridge::Zero), ("h1", Bridge::One)];
        assert!(layout_error(&twice).contains("two hosts"));
        for bad in ["", "h 1", "h/1", "a-name-much-too-long", "sw"] {
            layout_error(&[(bad, Bridge::Zero)]);
        }
    }

    #[test]
    fn prefixes_name_the_process_and_a_counter() {
        assert_eq!(prefix(4711, 2), "pc4711-2");
        let (a, b) = (unique_prefix(), unique_prefix());
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("pc{}-", std::process::id())));
    }
}
