// Fan-out benchmark: messages published to Redis, delivered to 1,000
// WebSocket clients of one room over loopback, by three servers in turn:
//  - ws_fanout: examples/ws_fanout, a thin program on uvredis-ws;
//  - ws+ioredis: tests/ws/peers/ws-ioredis.mjs, what a Node user would write
//    with the `ws` and `ioredis` packages, speaking the same protocol;
//  - socket.io: tests/ws/peers/socketio.mjs, Socket.IO 4.8 with its Redis
//    adapter (its own protocol; clients are socket.io-client over WebSocket).
// Run by hand, never by the tests; it measures, it asserts nothing:
//
//   meson setup build && ninja -C build examples/ws_fanout
//   (cd tests/ws && npm ci) && node tests/ws/bench-fanout.mjs [options]
//
// The peers' npm packages (tests/ws/peers/package.json: ioredis, socket.io,
// socket.io-client, @socket.io/redis-adapter) are installed here, with
// `npm ci` in tests/ws/peers, the first time the benchmark needs them; the
// tests never do.
//
// It starts a private redis-server (free loopback port, never 6379) and the
// three servers on free ports, each with a channel prefix of its own (so a
// message reaches only the server under test), connects --clients clients to
// each and joins them to one room, and publishes numbered messages through a
// raw RESP socket. Every payload is a JSON object, forwarded byte for byte:
//   {"s":<seq, 9 chars>,"t":<performance.now() at publish, 14 chars>,"p":"xx..."}
// so a client reads sequence and timestamp at fixed offsets without parsing
// JSON, and latency is end to end (publish -> Redis -> server -> client), on
// one clock (publisher and clients share this process).
//
// Phases of a round, each run for every server, the order of the servers
// rotating round by round:
//  - window: --messages messages, at most --window published and not yet
//    received by the average client (so per-client queues never overflow
//    by our doing);
//  - paced: --rate messages per second for --paced-seconds, below
//    saturation, for latency and CPU cost without self-inflicted queueing.
// Deliveries per second = frames received by all clients / (last delivery -
// first publish). CPU per delivery is the server process's (from /proc).
// Loop lag max is the server's own probe (a 100 ms timer's lateness), reset
// at the start of each phase (`/stats?reset_lag`). Each round pairs the
// servers' figures; the report gives medians over the rounds of each value
// and of the paired ratios ws_fanout / peer.
//
// Options: --clients 1000 --messages 1000 --window 50 --size 128 --rounds 3
//          --rate 30 --paced-seconds 3 --room bench --queue N (passed to
//          ws_fanout) --servers ws_fanout,ws+ioredis,socket.io
//          --syscalls (perf stat on the server's system calls in the paced
//          phases: calls per delivery) --json (one JSON object on stdout)
//
// Node cannot raise its own fd limit: when `ulimit -n` is too low for the
// clients it runs itself again through `sh -c 'ulimit -n ...; exec node ...'`.
// Every process started here is stopped by its pid (see harness.mjs).

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

// ------------------------------------------------------------------ options

const opts = {
  clients: 1000, messages: 1000, window: 50, size: 128, rounds: 3, rate: 30, pacedSeconds: 3,
  room: 'bench', queue: 0, json: false, syscalls: false, servers: 'ws_fanout,ws+ioredis,socket.io',
};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const key = a.replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
  if (a === '--json') {
    opts.json = true;
  } else if (a === '--syscalls') {
    opts.syscalls = true;
  } else if (a === '--room' || a === '--servers') {
    opts[key] = process.argv[++i];
  } else if (a.startsWith('--') && key in opts && typeof opts[key] === 'number') {
    const v = Number(process.argv[++i]);
    if (!Number.isFinite(v) || v < 0) usage(`bad value for ${a}`);
    opts[key] = v;
  } else {
    usage(`unknown argument ${a}`);
  }
}
const SERVERS = ['ws_fanout', 'ws+ioredis', 'socket.io'];
const servers = opts.servers.split(',').filter(Boolean);
if (servers.some((n) => !SERVERS.includes(n))) usage(`--servers: a list of ${SERVERS.join(', ')}`);
if (opts.clients < 1 || opts.messages < 1 || opts.window < 1 || opts.rounds < 1 || opts.rate <= 0) {
  usage('counts must be >= 1');
}
if (opts.size < 48) usage('--size must be at least 48 (the fixed header of a payload)');
if (opts.messages >= 1e9) usage('--messages must stay below 10^9 (9-digit sequence numbers)');

function usage(why) {
  console.error(`bench-fanout: ${why}\nsee the comment at the top of ${fileURLToPath(import.meta.url)}`);
  process.exit(2);
}

// ------------------------------------------------------------ fd limit

// Each client costs a descriptor here and one in its server.
const needFds = opts.clients * servers.length + 256;
const softLimit = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim());
if (Number.isFinite(softLimit) && softLimit < needFds) {
  if (process.env.BENCH_FANOUT_ULIMIT) {
    console.error(`bench-fanout: ulimit -n is ${softLimit}, ${needFds} needed, and it could not be raised`);
    process.exit(1);
  }
  const r = spawnSync('sh', ['-c', `ulimit -n ${needFds} && exec "$0" "$@"`, process.execPath, ...process.argv.slice(1)],
    { stdio: 'inherit', env: { ...process.env, BENCH_FANOUT_ULIMIT: '1' } });
  process.exit(r.status ?? 1);
}

// ------------------------------------------------------------ peers' packages

const here = path.dirname(fileURLToPath(import.meta.url));
const peersDir = path.join(here, 'peers');
if (servers.some((n) => n !== 'ws_fanout')) {
  const stamp = path.join(peersDir, 'node_modules', '.package-lock.json');
  if (!fs.existsSync(stamp) || fs.statSync(path.join(peersDir, 'package-lock.json')).mtimeMs > fs.statSync(stamp).mtimeMs) {
    console.error('bench-fanout: installing the peers\' packages (npm ci in tests/ws/peers)');
    const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: peersDir, stdio: 'inherit' });
    if (r.status !== 0) usage('npm ci in tests/ws/peers failed');
  }
}

// Imported only now: harness.mjs installs exit handlers that kill children.
const { fanoutBin, startRedis, stopProcess, sleep } = await import('./harness.mjs');

// ------------------------------------------------------------ payloads

const SEQ_OFF = 5;   // {"s":
const SEQ_LEN = 9;
const TS_OFF = SEQ_OFF + SEQ_LEN + 5;  // ,"t":
const TS_LEN = 14;
const HEAD = TS_OFF + TS_LEN + 8;      // ,"p":"   ...   "}
const pad = 'x'.repeat(opts.size - HEAD);

function payload(seq, now) {
  return `{"s":${String(seq).padStart(SEQ_LEN)},"t":${now.toFixed(3).padStart(TS_LEN)},"p":"${pad}"}`;
}

if (payload(0, 0).length !== opts.size) throw new Error('payload layout is off');

function encodePublish(channel, body) {
  return `*3\r\n$7\r\nPUBLISH\r\n$${Buffer.byteLength(channel)}\r\n${channel}\r\n$${Buffer.byteLength(body)}\r\n${body}\r\n`;
}

// ------------------------------------------------------------ latency

// Linear histogram: 20 µs buckets up to 20 s.
const BUCKET_MS = 0.02;
const BUCKETS = 1_000_000;

class Histogram {
  constructor() { this.h = new Uint32Array(BUCKETS); this.n = 0; }
  add(ms) {
    let b = Math.floor(ms / BUCKET_MS);
    if (b < 0) b = 0;
    if (b >= BUCKETS) b = BUCKETS - 1;
    this.h[b]++;
    this.n++;
  }
  percentile(p) {
    if (this.n === 0) return NaN;
    const want = Math.ceil(this.n * p);
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.h[b];
      if (seen >= want) return (b + 1) * BUCKET_MS;
    }
    return NaN;
  }
}

// ------------------------------------------------------------ CPU

const TICK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** utime + stime of a process in seconds (from /proc), or NaN. */
function procCpu(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK;  // fields 14 and 15
  } catch {
    return NaN;
  }
}

function selfCpu() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

// ------------------------------------------------------------ servers

/** Starts `cmd args` and resolves once it printed `listening on
 * 127.0.0.1:PORT` and its /stats says it is subscribed. */
async function startServer(name, cmd, args) {
  const { track } = await import('./harness.mjs');
  const child = track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  const srv = { name, child, port: 0, stderr: '', stdout: '' };
  child.stderr.on('data', (d) => { srv.stderr = (srv.stderr + d).slice(-20000); });
  srv.port = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${name} did not start:\n${srv.stderr}`)), 10000);
    child.stdout.on('data', (d) => {
      srv.stdout += d;
      const m = /^listening on 127\.0\.0\.1:(\d+)$/m.exec(srv.stdout);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`${name} exited with ${code}:\n${srv.stderr}`));
    });
  });
  srv.base = `http://127.0.0.1:${srv.port}`;
  const deadline = Date.now() + 10000;
  while (!(await getStats(srv)).redis.subscribed) {
    if (Date.now() > deadline) throw new Error(`${name} did not subscribe`);
    await sleep(50);
  }
  return srv;
}

async function getStats(srv, query = '') {
  const res = await fetch(`${srv.base}/stats${query}`);
  if (!res.ok) throw new Error(`${srv.name} /stats: HTTP ${res.status}`);
  return res.json();
}

function startTarget(name, redisUrl, prefix) {
  if (name === 'ws_fanout') {
    const args = ['--redis', redisUrl, '--port', '0', '--prefix', prefix];
    if (opts.queue) args.push('--queue', String(opts.queue));
    return startServer(name, fanoutBin, args);
  }
  const script = name === 'socket.io' ? 'socketio.mjs' : 'ws-ioredis.mjs';
  return startServer(name, process.execPath, [path.join(peersDir, script), '--redis', redisUrl, '--port', '0',
    '--prefix', prefix]);
}

// ------------------------------------------------------------ clients

// What the frame handlers of the clients feed.
let phase = null;

function newPhase(name, receivers, messages) {
  return {
    name, receivers, messages, expected: receivers * messages,
    published: 0, delivered: 0, dropped: 0, outOfOrder: 0, t0: 0, tLast: 0,
    hist: new Histogram(), done: null, maybePublish: null,
  };
}

function account(ph) {
  if (ph.delivered + ph.dropped >= ph.expected && ph.done) {
    const d = ph.done;
    ph.done = null;
    d();
    return;
  }
  if (ph.maybePublish) ph.maybePublish();
}

function received(ph, client, seq, ts) {
  const now = performance.now();
  ph.delivered++;
  ph.tLast = now;
  ph.hist.add(now - ts);
  if (seq <= client.last) ph.outOfOrder++;
  client.last = seq;
  account(ph);
}

/** A WebSocket client of the JSON protocol (ws_fanout, ws+ioredis), joined
 * to `room`; its frames feed the current phase. */
function connectWs(port, room, idx) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, 'uvredis-chat',
      { perMessageDeflate: false, skipUTF8Validation: true });
    const c = { ws, last: -1, joined: false, close: () => ws.terminate() };
    ws.on('error', (e) => { if (!c.joined) reject(e); });
    ws.once('open', () => ws.send(JSON.stringify({ type: 'join', room, name: `b${idx}` })));
    ws.on('message', (buf) => {
      if (!c.joined) {
        if (buf.includes('"joined"')) {
          c.joined = true;
          resolve(c);
        }
        return;
      }
      const ph = phase;
      if (ph === null) return;
      if (buf[2] === 0x73) {  // {"s": one of ours
        received(ph, c, parseInt(buf.toString('latin1', SEQ_OFF, SEQ_OFF + SEQ_LEN), 10),
          parseFloat(buf.toString('latin1', TS_OFF, TS_OFF + TS_LEN)));
      } else if (buf.includes('"dropped"')) {
        ph.dropped += JSON.parse(buf.toString()).count;
        account(ph);
      }
    });
  });
}

let sioClient = null;

/** A socket.io-client (WebSocket transport only) joined to `room`. */
function connectSio(port, room, idx) {
  sioClient ??= createRequire(path.join(peersDir, 'package.json'))('socket.io-client');
  return new Promise((resolve, reject) => {
    const sock = sioClient.io(`http://127.0.0.1:${port}`, {
      transports: ['websocket'], reconnection: false, forceNew: true, perMessageDeflate: false,
    });
    const c = { sock, last: -1, joined: false, close: () => sock.disconnect() };
    sock.on('connect_error', (e) => { if (!c.joined) reject(e); });
    sock.on('connect', () => sock.emit('join', { room, name: `b${idx}` }));
    sock.on('joined', () => {
      c.joined = true;
      resolve(c);
    });
    sock.on('message', (payload) => {
      const ph = phase;
      if (ph === null || payload.charCodeAt(2) !== 0x73) return;
      received(ph, c, parseInt(payload.slice(SEQ_OFF, SEQ_OFF + SEQ_LEN), 10),
        parseFloat(payload.slice(TS_OFF, TS_OFF + TS_LEN)));
    });
  });
}

function rawSocket(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.setNoDelay(true);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

// ------------------------------------------------------------ a phase

/**
 * Publishes to the target's room and waits for every delivery (or drop
 * notice). mode 'window': at most opts.window messages ahead of the average
 * client; mode 'paced': opts.rate messages per second.
 */
async function runPhase(ctx, target, mode) {
  const channel = `${target.prefix}${opts.room}`;
  const receivers = target.clients.length;
  const messages = mode === 'paced' ? Math.max(10, Math.round(opts.rate * opts.pacedSeconds)) : opts.messages;
  const ph = newPhase(`${target.name}/${mode}`, receivers, messages);
  for (const c of target.clients) c.last = -1;
  const pid = target.srv.child.pid;
  const before = { st: await getStats(target.srv, '?reset_lag=1'), cpu: procCpu(pid) };

  const publishUpTo = (n) => {
    let out = '';
    const now = performance.now();
    while (ph.published < n) out += encodePublish(channel, payload(ph.published++, now));
    if (out) ctx.pub.write(out);
  };
  const finished = new Promise((resolve) => { ph.done = resolve; });
  const tracer = opts.syscalls && mode === 'paced' ? await startSyscallCount(pid) : null;
  let timer = null;
  phase = ph;
  ph.t0 = performance.now();
  if (mode === 'window') {
    ph.maybePublish = () => {
      const ahead = ph.published - Math.floor((ph.delivered + ph.dropped) / receivers);
      if (ph.published < messages && ahead < opts.window) publishUpTo(Math.min(messages, ph.published + opts.window - ahead));
    };
    ph.maybePublish();
  } else {
    // Every 2 ms, what the rate allows by now (node timers are not finer).
    timer = setInterval(() => {
      publishUpTo(Math.min(messages, Math.floor(((performance.now() - ph.t0) / 1000) * opts.rate) + 1));
      if (ph.published >= messages) clearInterval(timer);
    }, 2);
    publishUpTo(1);
  }
  let guard;
  const timeout = new Promise((resolve) => { guard = setTimeout(() => resolve('timeout'), 120_000); });
  const outcome = await Promise.race([finished.then(() => 'ok'), timeout]);
  clearTimeout(guard);
  if (timer) clearInterval(timer);
  phase = null;
  const syscalls = tracer ? await stopSyscallCount(tracer) : null;
  // CPU first: the /stats request costs CPU too.
  const cpu = procCpu(pid);
  const st = await getStats(target.srv);
  const secs = (ph.tLast - ph.t0) / 1000;
  const n = Math.max(ph.delivered, 1);
  return {
    server: target.name, mode, outcome, messages, receivers,
    delivered: ph.delivered, droppedNotices: ph.dropped, outOfOrder: ph.outOfOrder, seconds: secs,
    deliveriesPerSec: ph.delivered / secs,
    p50: ph.hist.percentile(0.5), p99: ph.hist.percentile(0.99), max: ph.hist.percentile(1),
    cpuUsPerDelivery: ((cpu - before.cpu) * 1e6) / n,
    lagMaxMs: st.loop_lag_ms.max,
    dropped: st.dropped - before.st.dropped,
    syscallsPerDelivery: syscalls ? syscalls.total / n : null, syscalls,
  };
}

// ------------------------------------------------------------ syscalls

const SYSCALLS = ['sendto', 'write', 'writev', 'epoll_ctl', 'epoll_wait', 'poll', 'read', 'recvfrom'];

/** `perf stat` on the server's system call tracepoints (--syscalls): what
 * it costs the kernel per delivered frame in a paced fan-out phase (strace
 * would slow the server down too much to measure that phase). Resolves once
 * it is attached. */
async function startSyscallCount(pid) {
  const { spawn } = await import('node:child_process');
  const events = ['raw_syscalls:sys_enter', ...SYSCALLS.map((c) => `syscalls:sys_enter_${c}`)].join(',');
  const child = spawn('perf', ['stat', '-x', ',', '-e', events, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  await sleep(300);  // attaching takes a moment; nothing is published yet
  if (child.exitCode !== null) throw new Error(`perf stat failed: ${err}`);
  return { child, err: () => err };
}

/** Stops perf (SIGINT: it prints its counts); the total and each call. */
async function stopSyscallCount({ child, err }) {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGINT');
  await exited;
  const counts = {};
  for (const line of err().split('\n')) {
    const f = line.split(',');
    const ev = f.find((x) => x.includes('sys_enter'));
    if (ev && /^\d+$/.test(f[0])) counts[ev.replace(/^.*sys_enter_?/, '') || 'total'] = Number(f[0]);
  }
  const total = counts.total ?? NaN;
  const top = SYSCALLS.filter((c) => counts[c]).map((c) => ({ call: c, count: counts[c] }))
    .sort((x, y) => y.count - x.count);
  return { total, top };
}

// ------------------------------------------------------------ main

function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}
const grouped = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const fixed = (x, p) => (Number.isFinite(x) ? x.toFixed(p) : '–');
const log = (...a) => console.error(...a);

function describe(r) {
  return `${`${r.server}/${r.mode}`.padEnd(18)} ${grouped(r.deliveriesPerSec).padStart(9)} deliveries/s  ` +
    `p50 ${fixed(r.p50, 2)} ms  p99 ${fixed(r.p99, 2)} ms  CPU ${fixed(r.cpuUsPerDelivery, 2)} µs/delivery  ` +
    `lag max ${r.lagMaxMs} ms  drops ${r.dropped}` +
    `${r.outcome === 'ok' ? '' : ` [${r.outcome}: ${r.delivered}/${r.messages * r.receivers}]`}` +
    `${r.outOfOrder ? ` out-of-order ${r.outOfOrder}` : ''}` +
    `${r.syscalls ? `  syscalls/delivery ${fixed(r.syscallsPerDelivery, 2)} (${r.syscalls.top.map((t) => `${t.call} ${t.count}`).join(', ')})` : ''}`;
}

async function main() {
  const ctx = { targets: [] };
  const cleanup = async () => {
    for (const t of ctx.targets) for (const c of t.clients) c.close();
    ctx.pub?.destroy();
    for (const t of ctx.targets) await stopProcess(t.srv?.child);
    await stopProcess(ctx.redis?.child);
    if (ctx.redis) fs.rmSync(ctx.redis.dir, { recursive: true, force: true });
  };
  try {
    ctx.redis = await startRedis();
    // On SIGINT the harness kills the children and exits: the server's dir goes too.
    const dir = ctx.redis.dir;
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    log(`redis-server pid ${ctx.redis.child.pid} on :${ctx.redis.port}; ${os.cpus().length} cores, ` +
      `load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    for (const [i, name] of servers.entries()) {
      const prefix = `bench${i}:room:`;
      const t = { name, prefix, clients: [], srv: await startTarget(name, ctx.redis.url, prefix) };
      ctx.targets.push(t);
      const connect = name === 'socket.io' ? connectSio : connectWs;
      const t0 = performance.now();
      for (let k = 0; k < opts.clients; k += 50) {  // 50 handshakes at a time
        const batch = [];
        for (let j = k; j < Math.min(opts.clients, k + 50); j++) batch.push(connect(t.srv.port, opts.room, j));
        t.clients.push(...(await Promise.all(batch)));
      }
      log(`${name} pid ${t.srv.child.pid} on :${t.srv.port}: ${t.clients.length} clients joined in ` +
        `${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    ctx.pub = await rawSocket(ctx.redis.port);
    ctx.pub.on('data', () => {});  // PUBLISH replies: not needed, deliveries are counted

    const results = [];
    for (let round = 0; round < opts.rounds; round++) {
      const order = ctx.targets.map((_, i) => ctx.targets[(i + round) % ctx.targets.length]);
      for (const mode of ['window', 'paced']) {
        for (const t of order) {
          const r = await runPhase(ctx, t, mode);
          r.round = round;
          log(`round ${round + 1}  ${describe(r)}`);
          results.push(r);
          await sleep(300);
        }
      }
    }
    report(results);
  } finally {
    await cleanup();
  }
}

const MEASURES = [
  ['window', 'deliveries/s', (r) => r.deliveriesPerSec, (x) => grouped(x)],
  ['window', 'server CPU µs per delivery', (r) => r.cpuUsPerDelivery, (x) => fixed(x, 2)],
  ['window', 'p50 ms', (r) => r.p50, (x) => fixed(x, 1)],
  ['window', 'p99 ms', (r) => r.p99, (x) => fixed(x, 1)],
  ['window', 'loop lag max ms', (r) => r.lagMaxMs, (x) => fixed(x, 0)],
  ['paced', 'server CPU µs per delivery', (r) => r.cpuUsPerDelivery, (x) => fixed(x, 2)],
  ['paced', 'p50 ms', (r) => r.p50, (x) => fixed(x, 1)],
  ['paced', 'p99 ms', (r) => r.p99, (x) => fixed(x, 1)],
  ['paced', 'loop lag max ms', (r) => r.lagMaxMs, (x) => fixed(x, 0)],
  ['paced', 'system calls per delivery', (r) => r.syscallsPerDelivery ?? NaN, (x) => fixed(x, 2)],
  ['both', 'frames dropped', (r) => r.dropped, (x) => fixed(x, 0)],
];

function report(results) {
  const peers = servers.filter((n) => n !== 'ws_fanout');
  const rows = [];
  for (const [mode, what, f, fmt] of MEASURES) {
    const of = (server, round) => results.filter((r) => r.server === server && (mode === 'both' || r.mode === mode) &&
      (round === undefined || r.round === round));
    const value = (server) => (what === 'frames dropped' ? of(server).reduce((s, r) => s + f(r), 0)
      : median(of(server).map(f)));
    // Paired: the same round's figures, ws_fanout over the peer.
    const ratio = (peer) => median([...Array(opts.rounds).keys()].map((k) => {
      const a = of('ws_fanout', k).map(f);
      const b = of(peer, k).map(f);
      return a.length && b.length ? median(a) / median(b) : NaN;
    }));
    rows.push({ mode, what, values: Object.fromEntries(servers.map((n) => [n, value(n)])),
      ratios: Object.fromEntries(servers.includes('ws_fanout') ? peers.map((p) => [p, ratio(p)]) : []), fmt });
  }
  if (opts.json) {
    console.log(JSON.stringify({ opts, rows: rows.map(({ fmt, ...r }) => r), runs: results }, null, 2));
    return;
  }
  console.log(`\nFan-out to ${opts.clients} WebSocket clients in one room, ${opts.size}-byte messages, ` +
    `${opts.rounds} round(s), servers alternating; window ${opts.window} messages, ${opts.messages} messages per ` +
    `window phase; paced phases at ${opts.rate} msg/s for ${opts.pacedSeconds} s. Medians over the rounds; ratios ` +
    'are medians of the paired (same-round) ratios.\n');
  const ratioCols = servers.includes('ws_fanout') ? peers.map((p) => `ws_fanout / ${p}`) : [];
  console.log(`| phase | measure | ${servers.join(' | ')} | ${ratioCols.join(' | ')} |`);
  console.log(`|---|---|${servers.map(() => '--:').join('|')}|${ratioCols.map(() => '--:').join('|')}|`);
  for (const r of rows) {
    if (r.what.startsWith('system calls') && !opts.syscalls) continue;
    console.log(`| ${r.mode} | ${r.what} | ${servers.map((n) => r.fmt(r.values[n])).join(' | ')} | ` +
      `${Object.values(r.ratios).map((x) => fixed(x, 2)).join(' | ')} |`);
  }
}

await main();
