// What the two Node peers of tests/ws/bench-fanout.mjs share: arguments, the
// loop-lag probe (a 100 ms interval, as ws_fanout's tick) and the /stats
// endpoint with the fields the benchmark reads. Not used by the tests.

export function parseArgs(argv) {
  const o = { redis: 'redis://127.0.0.1:6379', port: 0, prefix: 'chat:room:', queueBytes: 8 * 1024 * 1024 };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[++i];
    if (a === '--redis') o.redis = v;
    else if (a === '--port') o.port = Number(v);
    else if (a === '--prefix') o.prefix = v;
    else if (a === '--queue-bytes') o.queueBytes = Number(v);
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

export function lagProbe() {
  const lag = { last: 0, max: 0 };
  let prev = performance.now();
  const t = setInterval(() => {
    const now = performance.now();
    lag.last = Math.max(0, Math.round(now - prev - 100));
    lag.max = Math.max(lag.max, lag.last);
    prev = now;
  }, 100);
  t.unref();
  return lag;
}

/** The request handler of /stats (`?reset_lag=1` starts the lag maximum
 * afresh after answering, as ws_fanout does); null for other paths. */
export function statsHandler(counters, lag) {
  return (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname !== '/stats') return false;
    const body = JSON.stringify({ ...counters(), loop_lag_ms: { last: lag.last, max: lag.max } });
    if (url.searchParams.has('reset_lag')) lag.max = 0;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(body);
    return true;
  };
}

export function listening(server) {
  console.log(`listening on 127.0.0.1:${server.address().port}`);
}
