#!/usr/bin/env node
'use strict';
/*
 * bench-peer.js - ONE peer of the original node.js implementation (npm
 * package `peercloud@0.1.3`, installed by `npm ci` at the repo root), driven
 * over JSON lines by the benchmarks in crates/peercloud-bench, exactly as
 * that crate's `rust-peer` role drives a peercloud peer. It measures from
 * inside the peer, with the package's own `peer.send` and `broadcast`.
 * (interop/node-peer.js is the harness of the interop tests; this script
 * follows its conventions and leaves it untouched.)
 *
 * Usage (cwd = repo root):   node interop/bench-peer.js '<config json>'
 *
 * Config: {"seeds": ["127.0.0.1:PORT", ...], "watch": <bool>, "port": <number>,
 *          "bind": "<IPv4 address>"}
 *   The peer listens on 127.0.0.1 only (or on "bind" if given: a peer in a
 *   network-namespace host of the fault benchmarks listens on the host's
 *   10.77.0.N), on a port the system picks (the package itself would
 *   listen on every interface and try 9338 first, which a peer of another
 *   engineer on this shared machine may hold), or on "port" if given (a
 *   peer others were told of before it started); if that port is taken it
 *   fails to start. That is the only change to the package's behaviour:
 *   others still learn the peer's address as the package does, from the
 *   source address of its /join (which is the listening address, as every
 *   host has one). It answers every message with the package's usual
 *   {"status":"received"}.
 *
 * stdout, one JSON object per line:
 *   {"event":"ready","id":"<own id>","port":<number>}   once started (joined, or alone)
 *   {"event":"members","ids":[...],"peers":[{"id","data"},...]}   with "watch":
 *        at start and whenever the member list or a member's data changes
 *        (looked at every 10 ms: the package has no events); a member the
 *        package lists twice is in both arrays twice
 *   {"event":"error","error":{...}}   startup failed; then exit 1
 *
 * stdin, one JSON command per line, answered in order by one line each:
 *   {"cmd":"peers"} -> {"event":"peers","id":..,"ids":[...]}
 *   {"cmd":"unicast","to":"<id>","inflight":N,"warmup_ms":W,"ms":M}
 *        peer.send('message', BODY) in N loops for W ms unmeasured, then M ms
 *        -> {"event":"unicast","count","errors","secs","per_sec","p50_us","p99_us"}
 *           (counted: the requests that completed inside the M ms window)
 *   {"cmd":"broadcast","expect":K,"warmup_ms":W,"ms":M}
 *        client.broadcast('message', BODY) one after the other; one fails
 *        unless K replies all came back -> {"event":"broadcast", same fields}
 *   anything else -> {"event":"bad_command","error":...}
 * Percentiles are by nearest rank, as crates/peercloud-bench/src/stats.rs.
 *
 * When stdin ends the process exits at once, without leaving, as a crash.
 */

const http = require('http');
const readline = require('readline');

console.log = console.error;
console.info = console.error;

// The package calls server.listen(port, cb) (and listen(0) if the port is
// taken): listen on loopback, on config.port or a port the system picks,
// instead. A config.port that is taken fails the start (the package would
// quietly take another port, which the peers told of this one never learn).
let wantedPort = 0;
let wantedHost = '127.0.0.1';
const listen = http.Server.prototype.listen;
http.Server.prototype.listen = function (port, cb) {
  if (this.listenedOnce) {
    emit({ event: 'error', error: { message: 'port ' + wantedPort + ' is taken' } });
    process.exit(1);
  }
  this.listenedOnce = true;
  return listen.call(this, wantedPort, wantedHost, typeof cb === 'function' ? cb : undefined);
};

const BODY = { hello: 'peer' };
const REPLY = { status: 'received' };
const MAX_INFLIGHT = 1024;
const MAX_MS = 60000;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj, (k, v) => (v instanceof Error ? { message: v.message, code: v.code || null } : v)) + '\n');
}
process.stdout.on('error', () => process.exit(0));

let config;
try {
  config = JSON.parse(process.argv[2] || '{}');
  if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new Error('not an object');
  wantedPort = Number(config.port || 0);
  if (!Number.isInteger(wantedPort) || wantedPort < 0 || wantedPort > 65535) throw new Error('bad port');
  if (config.bind !== undefined) {
    if (require('net').isIPv4(String(config.bind)) !== true) throw new Error('bad bind address');
    wantedHost = String(config.bind);
  }
} catch (e) {
  emit({ event: 'error', error: { message: 'bad config: ' + e.message } });
  process.exit(1);
}

const seeds = (config.seeds || []).map((s) => {
  const i = String(s).lastIndexOf(':');
  return { ip: String(s).slice(0, i), port: Number(String(s).slice(i + 1)) };
});

let ready = false;
const client = require('peercloud')(
  {
    port: 0,
    peers: seeds,
    data: {},
    onmessage: (from, body, reply) => reply(null, REPLY),
  },
  function (err) {
    if (err) {
      emit({ event: 'error', error: err });
      process.exit(1);
    }
    ready = true;
    emit({ event: 'ready', id: client.id, port: client.port });
    if (config.watch) watchMembers();
    pump();
  }
);

function ids() {
  return client.peers.map((p) => p.id);
}

function watchMembers() {
  let last = null;
  const look = () => {
    const now = JSON.stringify(client.peers.map((p) => ({ id: p.id, data: p.data })));
    if (now !== last) {
      last = now;
      const peers = JSON.parse(now);
      emit({ event: 'members', ids: peers.map((p) => p.id), peers: peers });
    }
  };
  look();
  setInterval(look, 10);
}

// ---- measuring ------------------------------------------------------------

function nowUs() {
  return Number(process.hrtime.bigint() / 1000n);
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1];
}

function bounded(value, fallback, max) {
  const n = Number.isFinite(value) ? Math.floor(value) : fallback;
  return Math.min(Math.max(n, 0), max);
}

// `op(done)` sends one request and calls done(ok). Same closed loop as
// crates/peercloud-bench/src/roles/load.rs.
function closedLoop(event, inflight, cmd, op, finish) {
  const warmup = bounded(cmd.warmup_ms, 200, MAX_MS) * 1000;
  const measure = bounded(cmd.ms, 1000, MAX_MS) * 1000;
  const from = nowUs() + warmup;
  const end = from + measure;
  const latencies = [];
  let errors = 0;
  let running = inflight;
  const loop = () => {
    const sent = nowUs();
    if (sent >= end) {
      if (--running === 0) {
        latencies.sort((a, b) => a - b);
        const secs = measure / 1e6;
        finish({
          event: event,
          count: latencies.length,
          errors: errors,
          secs: secs,
          per_sec: latencies.length / secs,
          p50_us: percentile(latencies, 50),
          p99_us: percentile(latencies, 99),
        });
      }
      return;
    }
    op((ok) => {
      const done = nowUs();
      if (done >= from && done < end) {
        if (ok) latencies.push(done - sent);
        else errors++;
      }
      loop();
    });
  };
  for (let i = 0; i < inflight; i++) loop();
}

function unicast(cmd, done) {
  const peer = client.peers.find((p) => p.id === cmd.to);
  if (!peer) return done({ event: 'unicast', error: 'unknown peer ' + JSON.stringify(cmd.to) });
  const inflight = bounded(cmd.inflight, 1, MAX_INFLIGHT) || 1;
  closedLoop('unicast', inflight, cmd, (ok) => peer.send('message', BODY, (err) => ok(!err)), done);
}

function broadcast(cmd, done) {
  const expect = bounded(cmd.expect, 0, 1e6);
  closedLoop(
    'broadcast',
    1,
    cmd,
    (ok) => client.broadcast('message', BODY, (err, replies) => ok(!err && (replies || []).length === expect)),
    done
  );
}

// ---- stdin command loop (as interop/node-peer.js) -------------------------

const queue = [];
let busy = false;

function pump() {
  if (!ready || busy || queue.length === 0) return;
  busy = true;
  handle(queue.shift(), (answer) => {
    emit(answer);
    busy = false;
    pump();
  });
}

function handle(line, done) {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    return done({ event: 'bad_command', error: 'invalid JSON: ' + e.message });
  }
  switch (cmd && cmd.cmd) {
    case 'peers':
      return done({ event: 'peers', id: client.id, ids: ids() });
    case 'unicast':
      return unicast(cmd, done);
    case 'broadcast':
      return broadcast(cmd, done);
    default:
      return done({ event: 'bad_command', error: 'unknown command ' + JSON.stringify(cmd && cmd.cmd) });
  }
}

const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on('line', (line) => {
  if (line.trim() === '') return;
  queue.push(line);
  pump();
});
rl.on('close', () => process.exit(0));
