// Test harness for examples/ws_fanout: a private redis-server on a free
// loopback port, the example server, a tiny RESP client, WebSocket clients.
// Every process started here is stopped by its pid (and killed if the test
// process exits first).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');
export const fanoutBin = process.env.WS_FANOUT_BIN || path.join(repoRoot, 'build', 'examples', 'ws_fanout');

const children = new Set();
function killChildren() {
  for (const c of children) {
    try { process.kill(c.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
}
process.on('exit', killChildren);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killChildren();
    process.exit(1);
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function tempDir(tag) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `uvredis-ws-${tag}-`));
}

/** A port the kernel just handed out on 127.0.0.1 (never 6379). */
export async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const p = srv.address().port;
        srv.close(() => resolve(p));
      });
    });
    if (port !== 6379) return port;
  }
}

/** Resolves with { code, signal } once the child exits, or null after ms. */
export function waitExit(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), ms);
    child.once('exit', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal });
    });
  });
}

/** SIGTERM by pid, SIGKILL after `graceMs`; resolves with the exit status. */
export async function stopProcess(child, graceMs = 3000) {
  if (!child) return null;
  let st = null;
  if (child.exitCode === null && child.signalCode === null) {
    try { process.kill(child.pid, 'SIGTERM'); } catch { /* gone */ }
    st = await waitExit(child, graceMs);
    if (st === null) {
      try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
      st = await waitExit(child, 2000);
    }
  } else {
    st = { code: child.exitCode, signal: child.signalCode };
  }
  children.delete(child);
  return st;
}

export function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

// ------------------------------------------------------------------ RESP

export class RespError extends Error {}

function encode(args) {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) {
    const s = String(a);
    parts.push(`$${Buffer.byteLength(s)}\r\n${s}\r\n`);
  }
  return parts.join('');
}

function parseReply(buf, off) {
  if (off >= buf.length) return null;
  const eol = buf.indexOf('\r\n', off);
  if (eol < 0) return null;
  const line = buf.toString('utf8', off + 1, eol);
  switch (buf[off]) {
    case 0x2b: return [line, eol + 2];                 // +
    case 0x2d: return [new RespError(line), eol + 2];  // -
    case 0x3a: return [Number(line), eol + 2];         // :
    case 0x24: {                                       // $
      const n = Number(line);
      if (n < 0) return [null, eol + 2];
      if (buf.length < eol + 2 + n + 2) return null;
      return [buf.toString('utf8', eol + 2, eol + 2 + n), eol + 4 + n];
    }
    case 0x2a: {                                       // *
      const n = Number(line);
      if (n < 0) return [null, eol + 2];
      const arr = [];
      let o = eol + 2;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, o);
        if (!r) return null;
        arr.push(r[0]);
        o = r[1];
      }
      return [arr, o];
    }
    default:
      throw new Error(`bad RESP type byte ${buf[off]}`);
  }
}

/** One RESP connection: command() resolves with the reply; in subscriber
 * mode, pushed messages go to onMessage(channel, payload). */
export class Resp {
  static connect(port) {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.once('connect', () => resolve(new Resp(sock)));
      sock.once('error', reject);
    });
  }

  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.pending = [];
    this.onMessage = null;
    sock.on('data', (d) => this.#feed(d));
    sock.on('error', () => {});
    sock.on('close', () => {
      for (const p of this.pending.splice(0)) p.reject(new Error('connection closed'));
    });
  }

  #feed(data) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    let off = 0;
    for (;;) {
      const r = parseReply(this.buf, off);
      if (!r) break;
      off = r[1];
      const v = r[0];
      if (Array.isArray(v) && v[0] === 'message' && this.onMessage) {
        this.onMessage(v[1], v[2]);
      } else if (Array.isArray(v) && v[0] === 'pmessage' && this.onMessage) {
        this.onMessage(v[2], v[3]);
      } else {
        const p = this.pending.shift();
        if (p) p.resolve(v);
      }
    }
    this.buf = this.buf.subarray(off);
  }

  command(...args) {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.sock.write(encode(args));
    });
  }

  /** Sends every command in one write; resolves with all replies. */
  pipeline(commands) {
    const replies = commands.map(() => new Promise((resolve, reject) => this.pending.push({ resolve, reject })));
    this.sock.write(commands.map(encode).join(''));
    return Promise.all(replies);
  }

  close() {
    this.sock.destroy();
  }
}

// ---------------------------------------------------------- processes

/** A private redis-server on a free loopback port in a temp dir (or on
 * `port` in `dir`, to start one again where it was). */
export async function startRedis(port, dir) {
  dir = dir ?? tempDir('redis');
  port = port ?? (await freePort());
  const child = track(spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--daemonize', 'no', '--logfile', path.join(dir, 'redis.log'),
  ], { stdio: 'ignore' }));
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      const c = await Resp.connect(port);
      const pong = await c.command('PING');
      c.close();
      if (pong === 'PONG') break;
    } catch (e) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`redis-server did not start: ${e}`);
      await sleep(20);
    }
  }
  return { child, port, dir, url: `redis://127.0.0.1:${port}` };
}

/** The example server on a port it picks; resolves once it has printed
 * its `listening on` line and is subscribed to Redis. */
export async function startFanout(redisUrl, extraArgs = []) {
  if (!fs.existsSync(fanoutBin)) throw new Error(`no ${fanoutBin}: build it first (see tests/ws/run.sh)`);
  const child = track(spawn(fanoutBin, ['--redis', redisUrl, '--port', '0', ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] }));
  const srv = { child, port: 0, stderr: '', stdout: '' };
  child.stderr.on('data', (d) => { srv.stderr += d; });
  srv.port = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`ws_fanout did not start:\n${srv.stderr}`)), 5000);
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
      reject(new Error(`ws_fanout exited with ${code}:\n${srv.stderr}`));
    });
  });
  srv.base = `http://127.0.0.1:${srv.port}`;
  await waitStats(srv, (s) => s.redis.subscribed, 5000);
  return srv;
}

export async function stats(srv) {
  const res = await fetch(`${srv.base}/stats`);
  if (!res.ok) throw new Error(`/stats: HTTP ${res.status}`);
  return res.json();
}

/** Polls /stats until pred(stats) holds; resolves with those stats. */
export async function waitStats(srv, pred, ms = 5000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await stats(srv);
    if (pred(last)) return last;
    if (Date.now() > deadline) throw new Error(`stats condition not met in ${ms} ms: ${JSON.stringify(last)}`);
    await sleep(20);
  }
}

// ---------------------------------------------------------- WebSockets

/** A WebSocket client of the chat protocol that keeps what it receives
 * (without the bulky `pad` field of flood messages). */
export function wsClient(port) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, 'uvredis-chat');
    const c = {
      ws,
      frames: [],
      waiters: [],
      closed: false,
      send(obj) { ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)); },
      /** Resolves with the first frame (old or new) that satisfies pred. */
      waitFor(pred, ms = 5000, what = 'frame') {
        const hit = c.frames.find(pred);
        if (hit) return Promise.resolve(hit);
        return new Promise((res, rej) => {
          const w = { pred, res };
          w.timer = setTimeout(() => {
            c.waiters = c.waiters.filter((x) => x !== w);
            rej(new Error(`timed out waiting for ${what}; last frames: ${JSON.stringify(c.frames.slice(-3))}`));
          }, ms);
          c.waiters.push(w);
        });
      },
      close() { ws.terminate(); },
    };
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      delete m.pad;
      c.frames.push(m);
      for (const w of [...c.waiters]) {
        if (w.pred(m)) {
          clearTimeout(w.timer);
          c.waiters = c.waiters.filter((x) => x !== w);
          w.res(m);
        }
      }
    });
    ws.on('close', () => { c.closed = true; });
    ws.once('open', () => resolve(c));
    ws.once('error', reject);
  });
}

/** Connects and joins `room`; resolves once the server said joined. */
export async function joined(port, room, name) {
  const c = await wsClient(port);
  c.send({ type: 'join', room, name });
  await c.waitFor((m) => m.type === 'joined' && m.room === room, 5000, 'joined');
  return c;
}
