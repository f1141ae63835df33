//! Property tests of the parsers that guard what enters a member list:
//! `PeerId::parse`, `Host::parse` and `Address`'s `FromStr`. None panics
//! on any string; each accepts exactly what its documentation says; what
//! it accepts prints (`Display`) as a string it parses back to the same
//! value, and nothing accepted can change the URL it is put into.

use std::net::IpAddr;

use peercloud_core::{Address, Host, PeerId, MAX_ID_LEN};
use proptest::prelude::*;

/// Strings near every edge of the three parsers.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\x00-\\x1f\\x7f\\u{85}]{0,3}[a-z]{0,3}",
        "[0-9a-fA-F:.\\[\\]%]{0,24}",
        "[a-zA-Z0-9._ /?#@-]{0,12}",
        (120usize..=136).prop_map(|n| "i".repeat(n)),
        (60usize..=70).prop_map(|n| "é".repeat(n)),
        (250usize..=258).prop_map(|n| "h".repeat(n)),
        any::<IpAddr>().prop_map(|ip| ip.to_string()),
        any::<IpAddr>().prop_map(|ip| format!("[{ip}]")),
        any::<[u8; 4]>().prop_map(|o| format!("::ffff:{}.{}.{}.{}", o[0], o[1], o[2], o[3])),
    ]
}

/// `HOST:PORT` texts: any host-ish part, any port-ish part.
fn address_text() -> impl Strategy<Value = String> {
    let port = prop_oneof![
        (0u32..70_000).prop_map(|p| p.to_string()),
        prop::sample::select(vec![
            "", "0", "080", "+80", "-1", " 80", "80 ", "1e3", "65536"
        ])
        .prop_map(str::to_owned),
    ];
    prop_oneof![
        (nasty(), port).prop_map(|(host, port)| format!("{host}:{port}")),
        nasty(),
    ]
}

/// The characters a host may put in a URL's authority without changing
/// where the URL points.
fn url_safe(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']'))
}

proptest! {
    #![proptest_config(super::config())]

    #[test]
    fn an_id_is_accepted_exactly_when_short_and_printable(text in nasty()) {
        let expected = !text.is_empty()
            && text.len() <= MAX_ID_LEN
            && !text.chars().any(char::is_control);
        let parsed = PeerId::parse(&text);
        prop_assert_eq!(parsed.is_ok(), expected, "{:?}", text);
        let from_json = serde_json::from_value::<PeerId>(serde_json::Value::from(text.clone()));
        prop_assert_eq!(from_json.ok(), parsed.clone().ok(), "JSON and parse disagree");
        if let Ok(id) = parsed {
            prop_assert_eq!(id.as_str(), text.as_str());
            prop_assert_eq!(PeerId::parse(&id.to_string()), Ok(id.clone()));
            let json = serde_json::to_string(&id).expect("an id serialises");
            prop_assert_eq!(serde_json::from_str::<PeerId>(&json).ok(), Some(id));
        }
    }

    #[test]
    fn a_host_prints_as_it_parses_and_stays_url_safe(text in nasty()) {
        let Ok(host) = Host::parse(&text) else {
            return Ok(());
        };
        prop_assert!(url_safe(host.as_str()), "{:?} accepted as {:?}", text, host);
        prop_assert_eq!(Host::parse(&host.to_string()), Ok(host.clone()));
        prop_assert_eq!(host.ip().is_some(), host.as_str().parse::<IpAddr>().is_ok());
        let for_url = host.for_url();
        prop_assert!(url_safe(&for_url), "{:?} in a URL is {:?}", host, for_url);
        let dialled = Host::parse(&for_url).expect("a host's URL form parses");
        prop_assert_eq!(dialled.ip(), host.ip(), "{:?} dials elsewhere than {:?}", for_url, host);
        let json = serde_json::to_string(&host).expect("a host serialises");
        prop_assert_eq!(serde_json::from_str::<Host>(&json).ok(), Some(host));
    }

    #[test]
    fn an_address_prints_as_one_that_parses_to_the_same_place(text in address_text()) {
        let Ok(address) = text.parse::<Address>() else {
            return Ok(());
        };
        prop_assert_ne!(address.port, 0);
        let shown = address.to_string();
        prop_assert!(url_safe(&shown), "{:?} shows as {:?}", text, shown);
        let again: Address = shown.parse().map_err(|e| {
            TestCaseError::fail(format!("{text:?} shows as {shown:?}, which fails: {e}"))
        })?;
        prop_assert_eq!(again.port, address.port);
        match address.host.ip() {
            Some(ip) => prop_assert_eq!(again.host.ip(), Some(ip)),
            None => prop_assert_eq!(&again.host, &address.host),
        }
        prop_assert_eq!(again.to_string(), shown, "Display is not a fixed point");
    }
}
