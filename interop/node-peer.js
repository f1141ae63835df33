#!/usr/bin/env node
'use strict';
/*
 * node-peer.js - run ONE peer of the original node.js implementation
 * (npm package `peercloud@0.1.3`, installed by `npm install` at the repo root)
 * and drive it over stdin/stdout with JSON lines, so that Rust integration
 * tests can run it beside Rust peers.
 *
 * Usage (cwd = repo root):
 *
 *     node interop/node-peer.js '<config json>'
 *
 * Config (argv[2], a JSON object, every field optional):
 *   port               number; 0 or absent = the package's default behaviour
 *                      (try 9338, fall back to a random free port). A non-zero
 *                      port that is already taken makes startup fail.
 *   peers              [{"ip": "127.0.0.1", "port": 9338}, ...] peers to join
 *                      through (the package shuffles them). [] = start alone.
 *   data               any JSON: this peer's identifying data (default {}).
 *   reply              JSON the onmessage handler replies with
 *                      (default {"status":"received"}).
 *   reply_error        if set (any JSON), the onmessage handler replies with
 *                      reply(reply_error) instead, which the package turns
 *                      into an HTTP 500 error page.
 *   check_interval_ms  if set, replaces the package's 5000 ms failure-detection
 *                      interval once started; 0 disables failure detection.
 *                      (The package's own autoCheck() cannot stop a running
 *                      interval - it calls clearInterval() with no argument -
 *                      so the timer handle is cleared here directly.)
 *
 * stdout: one JSON object per line, each with an "event" field. Nothing else
 * is ever written to stdout (console.log is redirected to stderr, in case).
 *   {"event":"ready","id":"<own id>","port":<number>,"joined":<bool>}
 *        once the startup callback ran (joined a cloud, or started alone).
 *   {"event":"error","error":{...}}
 *        startup failed (e.g. port in use); the process then exits 1.
 *   {"event":"message","from":<sender data>,"from_id":"<sender id>","body":<body>}
 *        each time the onmessage handler runs (it has already replied).
 *
 * stdin: one JSON command per line. Commands are processed one at a time, in
 * order, and each is answered by exactly one line. Commands received before
 * "ready" wait until then.
 *   {"cmd":"peers"}
 *        -> {"event":"peers","id":"<own id>","peers":[{"id","ip","port","data"},...]}
 *           (the full client's .peers; ip/port exactly as the package stores them)
 *   {"cmd":"broadcast","body":{...}}
 *        -> {"event":"broadcast","error":<results array or null>,"replies":<results array or null>}
 *           (the proxy's send(), i.e. client.broadcast('message', body, cb);
 *           results are [{"peer":<data>,"value":<reply>} | {"peer":<data>,"error":<err>}])
 *   {"cmd":"send","id":"<peer id>","body":{...}}
 *        -> {"event":"sent","error":<err or null>,"reply":<reply or null>}
 *           (peer.send('message', body, cb) on the full client's peer object;
 *           unknown id -> {"event":"sent","error":{"message":"unknown peer"},"reply":null})
 *   {"cmd":"evict","id":"<peer id>","port":<a port nothing listens on>}
 *        -> {"event":"evicted","error":<err or null>,"result":<check result>}
 *           runs the package's own failure check (client.check) on the
 *           member with that id, dialled at "port" instead of its own, so
 *           that the check fails at once and the package does what it does
 *           after any failed probe: it drops the member and broadcasts
 *           /left {id} to every peer it still lists. Answered once that
 *           broadcast is done (check's second callback, online: false).
 *           Unknown id -> {"event":"evicted","error":{"message":"unknown peer"},"result":null}
 *   {"cmd":"close"}
 *        -> {"event":"closed"} after client.leave(cb), then exit 0. NOTE: the
 *           original leave() empties its peer list BEFORE broadcasting /left,
 *           so in fact nobody is told; the others only drop this peer when
 *           their periodic /status probe fails (see interop/WIRE.md, 1.6).
 *   anything else / unparsable line
 *        -> {"event":"bad_command","error":{"message":...}}
 *
 * Errors are made JSON-serialisable: an Error becomes {"message","code"}; the
 * package's own error objects ({statusCode, body}, {code}) are kept as they are.
 *
 * When stdin ends (the parent went away) the process exits at once WITHOUT
 * leaving the cloud, as a crash would. Debug output goes to stderr only.
 */

const readline = require('readline');

// Keep stdout for protocol lines only.
console.log = console.error;
console.info = console.error;

function debug(...args) {
  console.error('[node-peer]', ...args);
}

// JSON.stringify replacer: Error objects (ECONNREFUSED, ESOCKETTIMEDOUT, ...)
// have no enumerable message, so turn them into {message, code}.
function replacer(key, value) {
  if (value instanceof Error) {
    return { message: value.message, code: value.code === undefined ? null : value.code };
  }
  return value;
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj, replacer) + '\n');
}

// If the parent closed our stdout, there is nobody left to talk to.
process.stdout.on('error', () => process.exit(0));

let config;
try {
  config = JSON.parse(process.argv[2] || '{}');
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new Error('config must be a JSON object');
  }
} catch (e) {
  emit({ event: 'error', error: { message: 'bad config: ' + e.message, code: null } });
  process.exit(1);
}

const reply = config.reply === undefined ? { status: 'received' } : config.reply;
const hasReplyError = config.reply_error !== undefined;

const peercloud = require('peercloud');

let ready = false;
let client; // the FULL client object (connect app + peercloud methods)

client = peercloud(
  {
    port: config.port || 0,
    peers: config.peers || [],
    data: config.data === undefined ? {} : config.data,
    // The package calls this as handler(sender.data, body, reply).
    onmessage: function (from, body, cb) {
      emit({ event: 'message', from: from, from_id: lastSenderId, body: body });
      if (hasReplyError) cb(config.reply_error);
      else cb(null, reply);
    },
  },
  function (err /* , proxy */) {
    if (err) {
      emit({ event: 'error', error: err });
      process.exit(1);
    }
    if (config.check_interval_ms !== undefined && config.check_interval_ms !== null) {
      // The package has just started a 5 s interval in client._autocheck.
      if (client._autocheck) {
        clearInterval(client._autocheck);
        delete client._autocheck;
      }
      if (config.check_interval_ms > 0) client.autoCheck(config.check_interval_ms);
    }
    ready = true;
    emit({ event: 'ready', id: client.id, port: client.port, joined: client.peers.length > 0 });
    pump();
  }
);

// The package wraps our onmessage as client.onMessage(peer, body, cb) and only
// passes peer.data on; wrap that once more to also report the sender's id.
let lastSenderId = null;
if (typeof client.onMessage === 'function') {
  const inner = client.onMessage;
  client.onMessage = function (peer, body, cb) {
    lastSenderId = peer ? peer.id : null;
    return inner.call(this, peer, body, cb);
  };
}

// ---- stdin command loop ---------------------------------------------------

const queue = [];
let busy = false;

function pump() {
  if (!ready || busy || queue.length === 0) return;
  busy = true;
  const line = queue.shift();
  handle(line, function (answer) {
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
    return done({ event: 'bad_command', error: { message: 'invalid JSON: ' + e.message } });
  }
  if (cmd === null || typeof cmd !== 'object') {
    return done({ event: 'bad_command', error: { message: 'command must be an object' } });
  }
  switch (cmd.cmd) {
    case 'peers':
      return done({
        event: 'peers',
        id: client.id,
        peers: client.peers.map((p) => ({ id: p.id, ip: p.ip, port: p.port, data: p.data })),
      });

    case 'broadcast':
      // Same as the proxy's send(): results go to err if any peer failed.
      return client.broadcast('message', cmd.body === undefined ? {} : cmd.body, function (err, replies) {
        done({ event: 'broadcast', error: err || null, replies: replies || null });
      });

    case 'send': {
      const peer = client.peers.find((p) => p.id === cmd.id);
      if (!peer) {
        return done({ event: 'sent', error: { message: 'unknown peer' }, reply: null });
      }
      return peer.send('message', cmd.body === undefined ? {} : cmd.body, function (err, body) {
        done({ event: 'sent', error: err || null, reply: err ? null : body === undefined ? null : body });
      });
    }

    case 'evict': {
      const peer = client.peers.find((p) => p.id === cmd.id);
      if (!peer) {
        return done({ event: 'evicted', error: { message: 'unknown peer' }, result: null });
      }
      // The same peer object (its id, ip and clientId), at a dead port.
      const ghost = Object.assign(Object.create(Object.getPrototypeOf(peer)), peer, { port: cmd.port });
      // check() calls back twice when the probe fails: at once with
      // {online: true} (sic), then {online: false} after the /left broadcast.
      return client.check(ghost, function (err, result) {
        if (err || (result && result.online === false)) {
          done({ event: 'evicted', error: err || null, result: result || null });
        }
      });
    }

    case 'close':
      // leave() empties the list, then broadcasts /left {id} to the (now
      // empty) list: faithful to the original, no request is actually sent.
      return client.leave(function () {
        emit({ event: 'closed' });
        process.exit(0);
      });

    default:
      return done({ event: 'bad_command', error: { message: 'unknown cmd: ' + JSON.stringify(cmd.cmd) } });
  }
}

const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on('line', function (line) {
  if (line.trim() === '') return;
  queue.push(line);
  pump();
});
// Parent gone: exit like a crash, without notifying the cloud.
rl.on('close', function () {
  debug('stdin closed, exiting without leaving');
  process.exit(0);
});
