// Fan-out benchmark of examples/ws_fanout: messages published to Redis,
// delivered to 1,000 WebSocket clients of one room over loopback.
// Run by hand, never by the tests; it measures, it asserts nothing:
//
//   meson setup build && ninja -C build examples/ws_fanout
//   (cd tests/ws && npm ci) && node tests/ws/bench-fanout.mjs [options]
//
// It starts a private redis-server (free loopback port, never 6379) and the
// example with --port 0, connects the clients (the `ws` package) and joins
// them to one room, and publishes numbered messages to `chat:room:<room>`
// through a raw RESP socket. Every payload is a JSON object that the example
// forwards byte for byte:
//   {"s":<seq, 9 chars>,"t":<performance.now() at publish, 14 chars>,"p":"xx..."}
// so a client reads sequence and timestamp at fixed offsets without parsing
// JSON, and latency is end to end (publish -> Redis -> ws_fanout -> client),
// on one clock (publisher and clients share this process).
//
// Phases of a round (the two `window` ones alternate who goes first):
//  - direct/window: the baseline. The same publisher and publish stream, to
//    a channel outside the example's pattern, received by one direct Redis
//    subscriber (a raw RESP socket in this process).
//  - fanout/window: the stream to the room. Flow control for both: at most
//    `--window` messages published and not yet received (for the fan-out,
//    by the average client: deliveries / clients), so the example's
//    per-client queues (1,024 frames by default) never overflow by our doing.
//  - direct/paced, fanout/paced: the same at a fixed rate below saturation,
//    for latency without self-inflicted queueing. The rate is --rate, or a
//    quarter of the fan-out message rate of round 1's window phase (at half
//    of it the clients and server fell behind on these 2 shared cores: a
//    frame costs more when it is not batched).
// Deliveries per second = frames received by all clients / (last delivery -
// first publish). Drops are the example's `dropped` notices and its /stats
// counters. CPU per delivery is read from /proc for ws_fanout and
// redis-server and from process.cpuUsage() for this process (publisher and
// all clients). Medians over the rounds are printed as a markdown table.
//
// Options: --clients 1000 --messages 1000 (per fan-out window phase)
//          --direct-messages 20000 (per direct window phase: with one receiver
//          1,000 messages would be over in a few ms) --window 50 --size 128 --rounds 3
//          --rate 0 (auto) --paced-seconds 2 --room bench --queue N (passed
//          to ws_fanout) --json (one JSON object on stdout instead of the table)
//
// Node cannot raise its own fd limit: when `ulimit -n` is too low for the
// clients it runs itself again through `sh -c 'ulimit -n ...; exec node ...'`.
// Every process started here is stopped by its pid (see harness.mjs).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

// ------------------------------------------------------------------ options

const opts = {
  clients: 1000, messages: 1000, directMessages: 20000, window: 50, size: 128, rounds: 3, rate: 0, pacedSeconds: 2,
  room: 'bench', queue: 0, json: false, syscalls: false,
};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const key = a.replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
  if (a === '--json') {
    opts.json = true;
  } else if (a === '--syscalls') {
    opts.syscalls = true;
  } else if (a === '--room') {
    opts.room = process.argv[++i];
  } else if (a.startsWith('--') && key in opts && typeof opts[key] === 'number') {
    const v = Number(process.argv[++i]);
    if (!Number.isFinite(v) || v < 0) usage(`bad value for ${a}`);
    opts[key] = v;
  } else {
    usage(`unknown argument ${a}`);
  }
}
if (opts.clients < 1 || opts.messages < 1 || opts.window < 1 || opts.rounds < 1) usage('counts must be >= 1');
if (opts.size < 48) usage('--size must be at least 48 (the fixed header of a payload)');
if (opts.messages >= 1e9) usage('--messages must stay below 10^9 (9-digit sequence numbers)');

function usage(why) {
  console.error(`bench-fanout: ${why}\nsee the comment at the top of ${fileURLToPath(import.meta.url)}`);
  process.exit(2);
}

// ------------------------------------------------------------ fd limit

// Each client costs a descriptor here and one in ws_fanout.
const needFds = opts.clients + 256;
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

// Imported only now: harness.mjs installs exit handlers that kill children.
const { startFanout, startRedis, stats, stopProcess, sleep } = await import('./harness.mjs');

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

// ------------------------------------------------------------ a phase

// What the frame handlers of the clients and the direct subscriber feed.
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

/** A WebSocket client joined to `room`; its frames feed the current phase. */
function connectClient(port, room, idx) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, 'uvredis-chat',
      { perMessageDeflate: false, skipUTF8Validation: true });
    const c = { ws, last: -1, joined: false, closed: false };
    ws.on('error', (e) => { if (!c.joined) reject(e); });
    ws.on('close', () => { c.closed = true; });
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

function rawSocket(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.setNoDelay(true);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * The baseline receiver: SUBSCRIBE on a raw socket and a parser that knows
 * only `message` pushes and reads the sequence and timestamp at their
 * offsets, so it costs about what a WebSocket client's handler does.
 */
async function directSubscriber(port, channel) {
  const sock = await rawSocket(port);
  const d = { sock, last: -1 };
  let buf = Buffer.alloc(0);
  let confirmed;
  const ready = new Promise((resolve) => { confirmed = resolve; });
  // A decimal length after `$` at off; [value, offset after its CRLF] or null.
  const len = (b, off) => {
    const eol = b.indexOf(13, off);
    return eol < 0 ? null : [parseInt(b.toString('latin1', off + 1, eol), 10), eol + 2];
  };
  sock.on('data', (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    let off = 0;
    for (;;) {
      // *3 $kind kind $ch ch $payload payload
      if (buf.length - off < 4) break;
      let o = off + 4;
      const k = len(buf, o); if (!k) break;
      const kind = buf.toString('latin1', k[1], k[1] + k[0]);
      o = k[1] + k[0] + 2;
      const c = o < buf.length ? len(buf, o) : null; if (!c) break;
      o = c[1] + c[0] + 2;
      if (kind === 'subscribe') {  // third element is :count
        const eol = buf.indexOf(10, o); if (eol < 0) break;
        off = eol + 1;
        confirmed();
        continue;
      }
      const p = o < buf.length ? len(buf, o) : null; if (!p) break;
      if (buf.length < p[1] + p[0] + 2) break;
      const body = p[1];
      off = body + p[0] + 2;
      const ph = phase;
      if (ph !== null && kind === 'message') {
        received(ph, d, parseInt(buf.toString('latin1', body + SEQ_OFF, body + SEQ_OFF + SEQ_LEN), 10),
          parseFloat(buf.toString('latin1', body + TS_OFF, body + TS_OFF + TS_LEN)));
      }
    }
    buf = off < buf.length ? buf.subarray(off) : Buffer.alloc(0);
  });
  sock.write(`*2\r\n$9\r\nSUBSCRIBE\r\n$${channel.length}\r\n${channel}\r\n`);
  await ready;
  return d;
}

/**
 * Publishes opts.messages to `channel` and waits for every delivery (or
 * drop notice). mode 'window': at most opts.window messages ahead of the
 * average receiver; mode 'paced': `rate` messages per second.
 */
async function runPhase(ctx, name, channel, receivers, mode, rate) {
  const messages = mode === 'paced' ? Math.max(10, Math.round(rate * opts.pacedSeconds))
    : receivers === 1 ? opts.directMessages : opts.messages;
  const ph = newPhase(name, receivers, messages);
  for (const c of ctx.clients) c.last = -1;
  ctx.direct.last = -1;
  const before = { st: await stats(ctx.fanout), fan: procCpu(ctx.fanout.child.pid), redis: procCpu(ctx.redis.child.pid),
    self: selfCpu() };

  const publishUpTo = (target) => {
    let out = '';
    const now = performance.now();
    while (ph.published < target) out += encodePublish(channel, payload(ph.published++, now));
    if (out) ctx.pub.write(out);
  };
  const finished = new Promise((resolve) => { ph.done = resolve; });
  const tracer = opts.syscalls && mode === 'paced' && receivers > 1 ? await startSyscallCount(ctx.fanout.child.pid) : null;
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
      const due = Math.min(messages, Math.floor(((performance.now() - ph.t0) / 1000) * rate) + 1);
      publishUpTo(due);
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
  const after = { fan: procCpu(ctx.fanout.child.pid), redis: procCpu(ctx.redis.child.pid), self: selfCpu() };
  after.st = await stats(ctx.fanout);
  const secs = (ph.tLast - ph.t0) / 1000;
  const n = Math.max(ph.delivered, 1);
  const diff = (k) => after.st[k] - before.st[k];
  return {
    name, mode, rate: mode === 'paced' ? rate : null, outcome, messages, receivers,
    delivered: ph.delivered, droppedNotices: ph.dropped, outOfOrder: ph.outOfOrder, seconds: secs,
    deliveriesPerSec: ph.delivered / secs,
    messagesPerSec: ph.delivered / receivers / secs,
    p50: ph.hist.percentile(0.5), p99: ph.hist.percentile(0.99), max: ph.hist.percentile(1),
    syscallsPerDelivery: syscalls ? syscalls.total / n : null, syscalls,
    cpuUsPerDelivery: {
      ws_fanout: ((after.fan - before.fan) * 1e6) / n,
      redis: ((after.redis - before.redis) * 1e6) / n,
      node: ((after.self - before.self) * 1e6) / n,
    },
    stats: {
      dropped: diff('dropped'), slow_clients: diff('slow_clients'), slow_disconnects: diff('slow_disconnects'),
      frames_sent: diff('frames_sent'), writeables: diff('writeables'), socket_full: diff('socket_full'),
      redis_messages: diff('redis_messages'), loop_lag_ms_max: after.st.loop_lag_ms.max,
      max_turn_messages: after.st.redis.max_turn_messages, clients: after.st.clients,
    },
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
  const c = r.cpuUsPerDelivery;
  return `${r.name.padEnd(13)} ${grouped(r.deliveriesPerSec).padStart(10)} deliveries/s ` +
    `${grouped(r.messagesPerSec).padStart(8)} msg/s  p50 ${fixed(r.p50, 2)} ms  p99 ${fixed(r.p99, 2)} ms  ` +
    `CPU µs/delivery: ws_fanout ${fixed(c.ws_fanout, 2)} redis ${fixed(c.redis, 2)} node ${fixed(c.node, 2)}  ` +
    `drops ${r.stats.dropped}${r.outcome === 'ok' ? '' : ` [${r.outcome}: ${r.delivered}/${r.messages * r.receivers}]`}` +
    `${r.outOfOrder ? ` out-of-order ${r.outOfOrder}` : ''}` +
    `${r.syscalls ? `  syscalls/delivery ${fixed(r.syscallsPerDelivery, 2)} (${r.syscalls.top.map((t) => `${t.call} ${t.count}`).join(', ')})` : ''}`;
}

async function main() {
  const ctx = { clients: [] };
  const cleanup = async () => {
    for (const c of ctx.clients) c.ws.terminate();
    ctx.pub?.destroy();
    ctx.direct?.sock.destroy();
    await stopProcess(ctx.fanout?.child);
    await stopProcess(ctx.redis?.child);
    if (ctx.redis) fs.rmSync(ctx.redis.dir, { recursive: true, force: true });
  };
  try {
    ctx.redis = await startRedis();
    // On SIGINT the harness kills the children and exits: the server's dir goes too.
    const dir = ctx.redis.dir;
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    const fanArgs = opts.queue ? ['--queue', String(opts.queue)] : [];
    ctx.fanout = await startFanout(ctx.redis.url, fanArgs);
    log(`redis-server pid ${ctx.redis.child.pid} on :${ctx.redis.port}, ws_fanout pid ${ctx.fanout.child.pid} ` +
      `on :${ctx.fanout.port}; ${os.cpus().length} cores, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);

    const t0 = performance.now();
    for (let i = 0; i < opts.clients; i += 50) {  // 50 handshakes at a time
      const batch = [];
      for (let j = i; j < Math.min(opts.clients, i + 50); j++) batch.push(connectClient(ctx.fanout.port, opts.room, j));
      ctx.clients.push(...(await Promise.all(batch)));
    }
    log(`${ctx.clients.length} clients joined room ${opts.room} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    ctx.pub = await rawSocket(ctx.redis.port);
    ctx.pub.on('data', () => {});  // PUBLISH replies: not needed, deliveries are counted
    const direct = await directSubscriber(ctx.redis.port, 'bench:direct');
    ctx.direct = direct;
    const room = `chat:room:${opts.room}`;

    const results = [];
    let rate = opts.rate;
    for (let round = 0; round < opts.rounds; round++) {
      const pair = [['direct/window', 'bench:direct', 1], ['fanout/window', room, opts.clients]];
      if (round % 2) pair.reverse();
      for (const [name, ch, recv] of pair) {
        const r = await runPhase(ctx, name, ch, recv, 'window');
        log(`round ${round + 1}  ${describe(r)}`);
        results.push(r);
        await sleep(200);
      }
      if (!rate) {
        const fan = results.find((r) => r.name === 'fanout/window');
        rate = Math.max(5, Math.floor(fan.messagesPerSec / 4 / 5) * 5);
        log(`paced phases publish ${rate} msg/s (a quarter of round 1's fan-out rate)`);
      }
      for (const [name, ch, recv] of [['direct/paced', 'bench:direct', 1], ['fanout/paced', room, opts.clients]]) {
        const r = await runPhase(ctx, name, ch, recv, 'paced', rate);
        log(`round ${round + 1}  ${describe(r)}`);
        results.push(r);
        await sleep(200);
      }
    }
    const final = await stats(ctx.fanout);
    report(results, final, rate);
  } finally {
    await cleanup();
  }
}

function report(results, final, rate) {
  const names = ['direct/window', 'fanout/window', 'direct/paced', 'fanout/paced'];
  const med = {};
  for (const n of names) {
    const rs = results.filter((r) => r.name === n);
    const m = (f) => median(rs.map(f));
    med[n] = {
      deliveriesPerSec: m((r) => r.deliveriesPerSec), messagesPerSec: m((r) => r.messagesPerSec),
      p50: m((r) => r.p50), p99: m((r) => r.p99),
      cpuFan: m((r) => r.cpuUsPerDelivery.ws_fanout), cpuRedis: m((r) => r.cpuUsPerDelivery.redis),
      cpuNode: m((r) => r.cpuUsPerDelivery.node),
      dropped: rs.reduce((s, r) => s + r.stats.dropped, 0), incomplete: rs.filter((r) => r.outcome !== 'ok').length,
    };
  }
  if (opts.json) {
    console.log(JSON.stringify({ opts, rate, medians: med, runs: results, final_stats: final }, null, 2));
    return;
  }
  const fw = med['fanout/window'];
  const dw = med['direct/window'];
  console.log(`\nFan-out to ${opts.clients} WebSocket clients in one room, ${opts.size}-byte messages, ` +
    `medians of ${opts.rounds} round(s); window ${opts.window} messages, ${opts.messages} messages per window ` +
    `phase; paced phases at ${rate} msg/s.\n`);
  console.log('| phase | deliveries/s | messages/s | p50 ms | p99 ms | CPU µs/delivery: ws_fanout | redis-server | ' +
    'node (clients + publisher) | frames dropped |');
  console.log('|---|--:|--:|--:|--:|--:|--:|--:|--:|');
  for (const n of names) {
    const m = med[n];
    // At a few dozen messages per second the direct phase's CPU is that of
    // the 2 ms pacing timer, not of delivering: not shown.
    const cpu = (v) => (n === 'direct/paced' ? '–' : fixed(v, 2));
    console.log(`| ${n} | ${grouped(m.deliveriesPerSec)} | ${grouped(m.messagesPerSec)} | ${fixed(m.p50, 2)} | ` +
      `${fixed(m.p99, 2)} | ${n.startsWith('fanout') ? fixed(m.cpuFan, 2) : '–'} | ${cpu(m.cpuRedis)} | ` +
      `${cpu(m.cpuNode)} | ${n.startsWith('fanout') ? m.dropped : '–'}${m.incomplete ? ` (${m.incomplete} incomplete)` : ''} |`);
  }
  console.log(`\nfan-out deliveries/s ÷ direct subscriber msg/s: ${fixed(fw.deliveriesPerSec / dw.messagesPerSec, 2)}; ` +
    `fan-out msg/s ÷ direct msg/s: ${(fw.messagesPerSec / dw.messagesPerSec).toPrecision(2)}`);
  console.log(`ws_fanout /stats at the end: dropped ${final.dropped}, slow_clients ${final.slow_clients}, ` +
    `slow_disconnects ${final.slow_disconnects}, loop_lag_ms max ${final.loop_lag_ms.max}, ` +
    `subscriber max_turn_messages ${final.redis.max_turn_messages}, socket_full ${final.socket_full}, ` +
    `writeables ${final.writeables}, frames_sent ${final.frames_sent}`);
}

await main();
