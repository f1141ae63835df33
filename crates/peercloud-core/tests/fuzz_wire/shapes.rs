//! Strategies for bodies that look like the protocol's JSON without being
//! right: every field of every message sometimes missing, sometimes of the
//! right type and a plausible value, sometimes anything at all (a wrong
//! type, a huge number, an odd or overlong string, unicode, bounded
//! nesting). Plus raw texts that no `Value` prints: number literals out of
//! range and nesting far past the parser's depth limit.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Every path the codec knows, and two it does not.
pub(crate) const PATHS: [&str; 9] = [
    "/join", "/joined", "/left", "/status", "/peers", "/probe", "/gossip", "/message", "/",
];

/// Strings the protocol uses, in and out of place.
fn plausible_string() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "",
        "a",
        "b",
        "joined",
        "added",
        "removed",
        "alive",
        "suspect",
        "failed",
        "left",
        "refused",
        "silent",
        "replaced",
        "127.0.0.1",
        "::ffff:127.0.0.1",
        "[::1]",
        "::1",
        "localhost",
        "Example.COM",
        "9338",
        " 9338 ",
        "0",
        "65536",
        "-1",
        "3-00ff00ff00ff00ff",
        "0b5bd3c5-9e1d-4c26-9f5c-8b0a4f2f1e77",
        "fe80::1%eth0",
        "1.2.3.4:80",
        "a/b?c#d",
    ])
    .prop_map(str::to_owned)
}

/// Strings no peer would send: any unicode, control characters, lengths
/// around the limits (ids 128 bytes, hosts 253, digests 64).
fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\x00-\\x1f\\x7f]{1,4}",
        "\\PC{0,8}[\\u{0300}-\\u{036f}\\u{200b}\\u{feff}\\u{1f600}]{1,3}",
        (60usize..=70).prop_map(|n| "d".repeat(n)),
        (120usize..=136).prop_map(|n| "i".repeat(n)),
        (250usize..=260).prop_map(|n| "h".repeat(n)),
        (30usize..=70).prop_map(|n| "é".repeat(n)),
    ]
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![3 => plausible_string(), 1 => odd_string()]
}

/// Numbers at and past every edge the protocol has (ports, u64, floats).
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![0u64, 1, 9338, 65535, 65536, u64::MAX, u64::MAX - 1])
            .prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop::num::f64::NORMAL
            .prop_union(prop::num::f64::ZERO | prop::num::f64::SUBNORMAL)
            .prop_map(Value::from),
        Just(Value::from(1.5)),
        Just(Value::from(-0.0)),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        string().prop_map(Value::String),
    ]
}

/// Any JSON value, nested at most four deep.
pub(crate) fn any_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(key(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Object keys: mostly the protocol's own field names.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "id", "ip", "port", "data", "incarnation", "status", "self", "peers", "from",
            "updates", "target", "outcome", "kind", "by", "cause", "digest", "online",
            "listening", "joined", "rejoining", "error",
        ])
        .prop_map(str::to_owned),
        1 => string(),
    ]
}

/// A field: left out, a plausible value, or any value at all.
fn field<S>(name: &'static str, good: S) -> impl Strategy<Value = Option<(String, Value)>>
where
    S: Strategy<Value = Value> + 'static,
{
    prop_oneof![
        1 => Just(None),
        16 => good.prop_map(move |v| Some((name.to_owned(), v))),
        1 => any_value().prop_map(move |v| Some((name.to_owned(), v))),
    ]
}

/// An object of the given fields, plus now and then a field nobody knows.
fn object(fields: Vec<BoxedStrategy<Option<(String, Value)>>>) -> impl Strategy<Value = Value> {
    (fields, prop::option::weighted(0.2, (string(), any_value()))).prop_map(|(fields, extra)| {
        let mut map: Map<String, Value> = fields.into_iter().flatten().collect();
        if let Some((k, v)) = extra {
            map.insert(k, v);
        }
        Value::Object(map)
    })
}

fn id() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => prop::sample::select(vec!["a", "b", "c", "0b5bd3c5-9e1d-4c26-9f5c-8b0a4f2f1e77"])
            .prop_map(Value::from),
        1 => string().prop_map(Value::from),
    ]
}

fn ip() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => prop::sample::select(vec!["127.0.0.1", "::ffff:10.0.0.1", "[::1]", "localhost"])
            .prop_map(Value::from),
        1 => Just(Value::Null),
        1 => string().prop_map(Value::from),
    ]
}

fn port() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (1u16..=u16::MAX).prop_map(Value::from),
        2 => (1u16..=u16::MAX).prop_map(|p| Value::from(p.to_string())),
        1 => number(),
        1 => string().prop_map(Value::from),
    ]
}

fn incarnation() -> impl Strategy<Value = Value> {
    prop_oneof![4 => (0u64..4).prop_map(Value::from), 1 => number()]
}

fn data() -> impl Strategy<Value = Value> {
    any_value()
}

fn boxed<S: Strategy<Value = Option<(String, Value)>> + 'static>(
    s: S,
) -> BoxedStrategy<Option<(String, Value)>> {
    s.boxed()
}

/// `{id, ip, port, data, incarnation}`: a join, a `/joined`, a listed peer.
fn peer() -> impl Strategy<Value = Value> {
    object(vec![
        boxed(field("id", id())),
        boxed(field("ip", ip())),
        boxed(field("port", port())),
        boxed(field("data", data())),
        boxed(field("incarnation", incarnation())),
    ])
}

/// One gossip update.
fn update() -> impl Strategy<Value = Value> {
    let kind = prop_oneof![
        8 => prop::sample::select(vec!["alive", "suspect", "failed", "left"]),
        1 => prop::sample::select(vec!["Alive", "dead"]),
    ]
    .prop_map(Value::from);
    let cause = prop::sample::select(vec!["refused", "silent", "replaced", "reported"])
        .prop_map(Value::from);
    object(vec![
        boxed(field("kind", kind)),
        boxed(field("id", id())),
        boxed(field("incarnation", incarnation())),
        boxed(field("ip", ip())),
        boxed(field("port", port())),
        boxed(field("data", data())),
        boxed(field("by", id())),
        boxed(field("cause", cause)),
    ])
}

/// Up to a hundred updates: more than an envelope keeps.
fn updates() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => vec(update(), 0..4).prop_map(Value::Array),
        1 => (60usize..100, update()).prop_map(|(n, u)| Value::Array(vec![u; n])),
    ]
}

fn envelope_fields() -> Vec<BoxedStrategy<Option<(String, Value)>>> {
    vec![
        boxed(field("from", update())),
        boxed(field("updates", updates())),
    ]
}

fn server() -> impl Strategy<Value = Value> {
    object(vec![
        boxed(field("id", id())),
        boxed(field("data", data())),
        boxed(field("incarnation", incarnation())),
    ])
}

fn status_word() -> impl Strategy<Value = Value> {
    prop::sample::select(vec!["joined", "added", "removed", "refused"]).prop_map(Value::from)
}

/// A body shaped like one of the protocol's requests or replies.
pub(crate) fn message() -> impl Strategy<Value = Value> {
    let join_reply = object(vec![
        boxed(field("status", status_word())),
        boxed(field("id", id())),
        boxed(field("ip", ip())),
        boxed(field("port", port())),
        boxed(field("self", server())),
        boxed(field("peers", vec(peer(), 0..4).prop_map(Value::Array))),
    ]);
    let left = object(vec![
        boxed(field("id", id())),
        boxed(field("rejoining", any::<bool>().prop_map(Value::Bool))),
    ]);
    let flag = || any::<bool>().prop_map(Value::Bool);
    let mut status_fields = vec![
        boxed(field("id", id())),
        boxed(field("online", flag())),
        boxed(field("listening", flag())),
        boxed(field("joined", flag())),
        boxed(field("digest", string().prop_map(Value::from))),
        boxed(field("incarnation", incarnation())),
    ];
    status_fields.extend(envelope_fields());
    let mut probe_fields = vec![boxed(field("target", peer()))];
    probe_fields.extend(envelope_fields());
    let outcome = prop_oneof![
        8 => prop::sample::select(vec!["alive", "refused", "replaced", "silent"]),
        1 => Just("dead"),
    ]
    .prop_map(Value::from);
    let mut probe_reply_fields = vec![boxed(field("outcome", outcome))];
    probe_reply_fields.extend(envelope_fields());
    let peers_reply = object(vec![
        boxed(field("self", server())),
        boxed(field("peers", vec(peer(), 0..4).prop_map(Value::Array))),
    ]);
    let ack = object(vec![boxed(field("status", status_word()))]);
    prop_oneof![
        peer(),
        join_reply,
        left,
        object(status_fields),
        object(envelope_fields()),
        object(probe_fields),
        object(probe_reply_fields),
        peers_reply,
        ack,
        any_value(),
    ]
}

/// Texts no `Value` prints: out-of-range and odd number literals in the
/// places numbers go, nesting far deeper than serde_json's limit of 128,
/// truncated documents, a byte-order mark.
pub(crate) fn raw_text() -> impl Strategy<Value = Vec<u8>> {
    let literal = prop::sample::select(vec![
        "1e999",
        "-1e999",
        "123456789012345678901234567890",
        "-0",
        "1E+2",
        "0.0000001",
        "18446744073709551616",
        "9338.0",
        "00",
        "+1",
        "NaN",
        "Infinity",
        "0x10",
    ]);
    let in_field = (
        literal,
        prop::sample::select(vec!["port", "incarnation", "id", "data"]),
    )
        .prop_map(|(lit, name)| {
            format!(r#"{{"id":"a","ip":"1.2.3.4","port":9,"{name}":{lit},"kind":"alive"}}"#)
                .into_bytes()
        });
    let nested = (
        1usize..3000,
        prop::sample::select(vec![("[", "]"), ("{\"data\":", "}")]),
    )
        .prop_map(|(depth, (open, close))| {
            let mut text = String::from("{\"id\":\"a\",\"ip\":\"1.2.3.4\",\"data\":");
            text.push_str(&open.repeat(depth));
            text.push_str(&close.repeat(depth));
            text.push('}');
            text.into_bytes()
        });
    let truncated = (message(), any::<prop::sample::Index>()).prop_map(|(value, cut)| {
        let text = value.to_string().into_bytes();
        let at = cut.index(text.len() + 1);
        text[..at].to_vec()
    });
    let bom = message().prop_map(|value| {
        let mut text = "\u{feff}".as_bytes().to_vec();
        text.extend(value.to_string().into_bytes());
        text
    });
    prop_oneof![in_field, nested, truncated, bom]
}

/// What to do to one field of a valid message.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    /// Leave it out.
    Remove,
    /// Give it any value at all.
    Replace(Value),
}

pub(crate) fn change() -> impl Strategy<Value = Change> {
    prop_oneof![Just(Change::Remove), any_value().prop_map(Change::Replace)]
}

/// `value` with one of its object fields, at any depth, changed: a body
/// with exactly one thing wrong (or, for a lenient field, nothing wrong).
pub(crate) fn change_one_field(mut value: Value, pick: prop::sample::Index, how: Change) -> Value {
    let mut count = 0;
    count_fields(&value, &mut count);
    if count > 0 {
        let mut target = pick.index(count);
        change_field(&mut value, &mut target, &how);
    }
    value
}

fn count_fields(value: &Value, count: &mut usize) {
    match value {
        Value::Object(map) => map.values().for_each(|v| {
            *count += 1;
            count_fields(v, count);
        }),
        Value::Array(items) => items.iter().for_each(|v| count_fields(v, count)),
        _ => {}
    }
}

/// Changes the `target`-th field in the order `count_fields` counts them;
/// returns whether it was found.
fn change_field(value: &mut Value, target: &mut usize, how: &Change) -> bool {
    match value {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                if *target == 0 {
                    match how {
                        Change::Remove => map.remove(&key),
                        Change::Replace(new) => map.insert(key, new.clone()),
                    };
                    return true;
                }
                *target -= 1;
                if map
                    .get_mut(&key)
                    .is_some_and(|v| change_field(v, target, how))
                {
                    return true;
                }
            }
            false
        }
        Value::Array(items) => items.iter_mut().any(|v| change_field(v, target, how)),
        _ => false,
    }
}
