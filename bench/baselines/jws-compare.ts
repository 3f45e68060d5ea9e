import type { KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { hash } from '@node-rs/argon2';
import { jwtVerify, SignJWT } from 'jose';
import { ROOT } from '../lib/settings.js';

/**
 * JWS by hand (src/tokens/access-token.ts: node:crypto, synchronous, on the
 * event loop) against `jose` (WebCrypto: every sign and verify is a job on
 * libuv's 4-thread pool), in one process, interleaved, for each JWT_ALG:
 *
 * - sign/s and verify/s, and CPU µs per operation (all threads). Ours runs
 *   with its verified-token cache disabled (cacheSize 0); jose gets the same
 *   claims, the same KeyObjects and the same checks (alg pinned, typ at+jwt,
 *   iss, aud, exp). jose is measured one call at a time (as a request does)
 *   and with 8 calls in flight (its pool threads can use a second core).
 * - verify latency, open loop at a fixed rate, ours and jose alternating
 *   probe by probe: quiet; while 8 concurrent @node-rs/argon2 `hash()` calls
 *   (the service's m=19456 t=2 p=1) keep libuv's pool busy; and while 8
 *   concurrent hashes go through the service's own PasswordHasher (worker
 *   threads of its own at nice 10, 2 at a time).
 *
 * Rates are compared as ratios within a round (the machine is shared): median
 * and min–max over the rounds. Needs dist/ (`npm run build`). Prints a table
 * on stderr and one JSON line on stdout. BENCH_QUICK=1: a few seconds;
 * BENCH_JWS_ROUNDS, BENCH_JWS_MS (per measurement), BENCH_JWS_PROBE_SECONDS.
 */

type Alg = 'ES256' | 'EdDSA' | 'RS256';
const ALGS: Alg[] = ['ES256', 'EdDSA', 'RS256'];

interface Claims {
  iss: string;
  aud: string;
  sub: string;
  sid: string;
  roles: string[];
  iat: number;
  exp: number;
  jti: string;
}
interface Material {
  kid: string;
  alg: Alg;
  privateKey: KeyObject;
  publicKey: KeyObject;
}
interface AccessTokenModule {
  signAccessToken(key: Material, claims: Claims): string;
  AccessTokenVerifier: new (options: {
    alg: Alg;
    issuer: string;
    audience: string;
    resolveKey: (kid: string) => KeyObject | undefined;
    cacheSize?: number;
  }) => { verify(token: string): Claims };
}
interface SigningKeyModule {
  generateSigningKey: (alg: Alg) => Material;
}
interface Hasher {
  hash(password: string): Promise<string>;
  onApplicationShutdown(): Promise<void>;
}

const quick = process.env.BENCH_QUICK === '1' || process.env.BENCH_QUICK === 'true';
const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback) || fallback;
const ROUNDS = num('BENCH_JWS_ROUNDS', quick ? 2 : 5);
const MS = num('BENCH_JWS_MS', quick ? 100 : 250);
const PROBE_SECONDS = num('BENCH_JWS_PROBE_SECONDS', quick ? 0.5 : 3);
const PROBE_RATE = 200;
const IN_FLIGHT = 8;
const LOAD_HASHES = 8;
const ARGON2 = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
const ISSUER = 'https://gatehouse.bench';
const AUDIENCE = 'gatehouse-bench';

const dist = (file: string) => {
  const path = join(ROOT, 'dist', file);
  if (!existsSync(path)) throw new Error(`jws-compare: ${path} is missing: run \`npm run build\` first`);
  return pathToFileURL(path).href;
};
const ours = (await import(dist('keys/access-token.js'))) as AccessTokenModule;
const { generateSigningKey } = (await import(dist('keys/signing-key.js'))) as SigningKeyModule;
const { PasswordHasher } = (await import(dist('passwords/password-hasher.service.js'))) as {
  PasswordHasher: new () => Hasher;
};

interface Ours {
  sign(claims: Claims): string;
  verify(token: string): Claims;
}
interface Jose {
  sign(claims: Claims): Promise<string>;
  verify(token: string): Promise<unknown>;
}

function setup(alg: Alg) {
  const key = generateSigningKey(alg);
  const resolveKey = (kid: string) => (kid === key.kid ? key.publicKey : undefined);
  const verifier = new ours.AccessTokenVerifier({
    alg,
    issuer: ISSUER,
    audience: AUDIENCE,
    resolveKey,
    cacheSize: 0,
  });
  const mine: Ours = {
    sign: (claims) => ours.signAccessToken(key, claims),
    verify: (token) => verifier.verify(token),
  };
  const jose: Jose = {
    sign: (claims) =>
      new SignJWT({ ...claims })
        .setProtectedHeader({ alg, typ: 'at+jwt', kid: key.kid })
        .sign(key.privateKey),
    verify: (token) =>
      jwtVerify(
        token,
        (header) => {
          const publicKey = typeof header.kid === 'string' ? resolveKey(header.kid) : undefined;
          if (!publicKey) throw new Error('unknown key');
          return publicKey;
        },
        { algorithms: [alg], typ: 'at+jwt', issuer: ISSUER, audience: AUDIENCE },
      ),
  };
  const now = Math.floor(Date.now() / 1000);
  const claims = Array.from({ length: 256 }, (_, i): Claims => ({
    iss: ISSUER,
    aud: AUDIENCE,
    sub: `user-${i}`,
    sid: `session-${i}`,
    roles: ['user'],
    iat: now,
    exp: now + 3600,
    jti: `jti-${i}-${Math.random().toString(36).slice(2)}`,
  }));
  const tokens = claims.map((c) => mine.sign(c));
  return { alg, mine, jose, claims, tokens };
}
type Setup = ReturnType<typeof setup>;

/** Both verifiers accept each other's tokens with the same claims, and refuse the same forgeries. */
async function crossCheck(s: Setup): Promise<void> {
  const fail = (what: string) => {
    throw new Error(`jws-compare ${s.alg}: ${what}`);
  };
  const joseToken = await s.jose.sign(s.claims[0]!);
  for (const token of [s.tokens[0]!, joseToken]) {
    const a = s.mine.verify(token);
    const { payload } = (await s.jose.verify(token)) as { payload: Claims };
    if (JSON.stringify({ ...a }) !== JSON.stringify(payload)) fail('ours and jose disagree on the claims');
  }
  const [h, p, sig] = s.tokens[0]!.split('.') as [string, string, string];
  const flipped = `${h}.${p}.${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`;
  const otherAud = Buffer.from(JSON.stringify({ ...s.claims[0], aud: 'other' })).toString('base64url');
  for (const bad of [flipped, `${h}.${otherAud}.${sig}`]) {
    let oursOk = true;
    let joseOk = true;
    try {
      s.mine.verify(bad);
    } catch {
      oursOk = false;
    }
    try {
      await s.jose.verify(bad);
    } catch {
      joseOk = false;
    }
    if (oursOk || joseOk) fail('a forged token was accepted');
  }
}

interface Rate {
  perSecond: number;
  cpuMicros: number;
}

/** Calls `op` for `ms`, `inFlight` at a time (0: synchronously, in a tight loop). */
async function rate(op: (i: number) => unknown, ms: number, inFlight: number): Promise<Rate> {
  let n = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const deadline = started + ms;
  if (inFlight === 0) {
    while (performance.now() < deadline) {
      for (let k = 0; k < 8; k++) op(n++);
    }
  } else {
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (performance.now() < deadline) await op(n++);
      }),
    );
  }
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { perSecond: n / seconds, cpuMicros: (used.user + used.system) / n };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const spread = (values: number[]) => ({
  median: median(values),
  min: Math.min(...values),
  max: Math.max(...values),
});
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;

type Variant = 'ours' | 'jose' | 'jose8';
const VARIANTS: Variant[] = ['ours', 'jose', 'jose8'];
type Samples = Record<'sign' | 'verify', Record<Variant, Rate[]>>;

async function throughput(setups: Setup[]): Promise<Map<Alg, Samples>> {
  const samples = new Map<Alg, Samples>();
  const run = (s: Setup, what: 'sign' | 'verify', variant: Variant, ms: number) => {
    const impl = variant === 'ours' ? s.mine : s.jose;
    const op =
      what === 'sign'
        ? (i: number) => impl.sign(s.claims[i & 255]!)
        : (i: number) => impl.verify(s.tokens[i & 255]!);
    return rate(op, ms, variant === 'ours' ? 0 : variant === 'jose' ? 1 : IN_FLIGHT);
  };
  for (const s of setups) {
    samples.set(s.alg, {
      sign: { ours: [], jose: [], jose8: [] },
      verify: { ours: [], jose: [], jose8: [] },
    });
    // Warm-up (JIT, jose's KeyObject → CryptoKey cache).
    for (const what of ['sign', 'verify'] as const) for (const v of VARIANTS) await run(s, what, v, MS / 2);
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of setups) {
      // Alternate which implementation goes first.
      const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
      for (const what of ['sign', 'verify'] as const) {
        for (const v of order) samples.get(s.alg)![what][v].push(await run(s, what, v, MS));
      }
    }
  }
  return samples;
}

interface Latency {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** Open-loop verifications at PROBE_RATE, ours and jose alternating, each timed from its scheduled start. */
async function probe(setups: Setup[]): Promise<Record<'ours' | 'jose', Latency>> {
  const times: Record<'ours' | 'jose', number[]> = { ours: [], jose: [] };
  const total = Math.round(PROBE_SECONDS * PROBE_RATE);
  const started = performance.now() + 5;
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const at = started + (i * 1000) / PROBE_RATE;
    const s = setups[(i >> 1) % setups.length]!;
    const which = i % 2 === 0 ? 'ours' : 'jose';
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, at - performance.now())));
    // A timer may fire up to a millisecond early: then the probe starts (arrives) now.
    const arrived = Math.min(at, performance.now());
    const token = s.tokens[i & 255]!;
    if (which === 'ours') {
      s.mine.verify(token);
      times.ours.push(performance.now() - arrived);
    } else {
      pending.push(
        Promise.resolve(s.jose.verify(token)).then(() => {
          times.jose.push(performance.now() - arrived);
        }),
      );
    }
  }
  await Promise.all(pending);
  const summary = (values: number[]): Latency => {
    const sorted = [...values].sort((a, b) => a - b);
    return {
      count: sorted.length,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted[sorted.length - 1] ?? NaN,
    };
  };
  return { ours: summary(times.ours), jose: summary(times.jose) };
}

/** Keeps `LOAD_HASHES` argon2 hashes in flight with `hashOne` while `during` runs; returns hashes/s too. */
async function underLoad<T>(
  hashOne: (i: number) => Promise<unknown>,
  during: () => Promise<T>,
): Promise<{ result: T; hashesPerSecond: number }> {
  let stop = false;
  let hashes = 0;
  const loops = Array.from({ length: LOAD_HASHES }, async (_, w) => {
    while (!stop) {
      await hashOne(w);
      hashes++;
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const before = hashes;
  const started = performance.now();
  const result = await during();
  const hashesPerSecond = ((hashes - before) * 1000) / (performance.now() - started);
  stop = true;
  await Promise.all(loops);
  return { result, hashesPerSecond };
}

const setups = ALGS.map(setup);
for (const s of setups) await crossCheck(s);
const samples = await throughput(setups);

const latency: Record<string, { ours: Latency; jose: Latency; hashesPerSecond?: number }> = {};
latency.quiet = await probe(setups);
{
  const { result, hashesPerSecond } = await underLoad(
    (w) => hash(`load password ${w}`, ARGON2),
    () => probe(setups),
  );
  latency['argon2 on libuv pool ×8'] = { ...result, hashesPerSecond };
}
{
  const hasher = new PasswordHasher();
  try {
    const { result, hashesPerSecond } = await underLoad(
      (w) => hasher.hash(`load password ${w}`),
      () => probe(setups),
    );
    latency['service PasswordHasher ×8'] = { ...result, hashesPerSecond };
  } finally {
    await hasher.onApplicationShutdown();
  }
}

// Report.
const f = (v: number, digits = 0) =>
  Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: digits }) : '–';
type Band = { median: number; min: number; max: number };
interface Entry {
  ours: Band;
  jose: Band;
  jose8: Band;
  ratio: Band;
  ratio8: Band;
  cpuMicros: Record<Variant, number>;
}
const throughputOut: Partial<Record<Alg, Record<'sign' | 'verify', Entry>>> = {};
const lines: string[] = [
  `JWS ours (node:crypto) vs jose: ${ROUNDS} rounds × ${MS} ms, medians [min–max]; ratio = jose / ours in the same round`,
  `${'alg'.padEnd(6)} ${'op'.padEnd(6)} ${'ours/s'.padStart(8)} ${'jose/s'.padStart(8)} ${'jose÷ours'.padStart(18)} ${`jose×${IN_FLIGHT}/s`.padStart(9)} ${'÷ours'.padStart(18)}  CPU µs/op ours·jose·jose×${IN_FLIGHT}`,
];
for (const s of setups) {
  const perAlg = {} as Record<'sign' | 'verify', Entry>;
  for (const what of ['sign', 'verify'] as const) {
    const sm = samples.get(s.alg)![what];
    const r = (v: Variant) => sm[v].map((x) => x.perSecond);
    const ratio = (v: Variant) => sm[v].map((x, i) => x.perSecond / sm.ours[i]!.perSecond);
    const cpu = (v: Variant) => median(sm[v].map((x) => x.cpuMicros));
    const entry: Entry = {
      ours: spread(r('ours')),
      jose: spread(r('jose')),
      jose8: spread(r('jose8')),
      ratio: spread(ratio('jose')),
      ratio8: spread(ratio('jose8')),
      cpuMicros: { ours: cpu('ours'), jose: cpu('jose'), jose8: cpu('jose8') },
    };
    perAlg[what] = entry;
    const band = (x: Band) => `${f(x.median, 2)} [${f(x.min, 2)}–${f(x.max, 2)}]`;
    lines.push(
      `${s.alg.padEnd(6)} ${what.padEnd(6)} ${f(entry.ours.median).padStart(8)} ${f(entry.jose.median).padStart(8)} ${band(entry.ratio).padStart(18)} ${f(entry.jose8.median).padStart(9)} ${band(entry.ratio8).padStart(18)}  ${f(entry.cpuMicros.ours)} · ${f(entry.cpuMicros.jose)} · ${f(entry.cpuMicros.jose8)}`,
    );
  }
  throughputOut[s.alg] = perAlg;
}
lines.push(
  `verify latency, open loop ${PROBE_RATE}/s for ${PROBE_SECONDS} s (ES256/EdDSA/RS256 in turn), ms:`,
);
for (const [name, l] of Object.entries(latency)) {
  const one = (x: Latency) => `p50 ${f(x.p50, 2)} p99 ${f(x.p99, 2)} max ${f(x.max, 1)}`;
  lines.push(
    `  ${name.padEnd(27)} ours ${one(l.ours)}  |  jose ${one(l.jose)}` +
      (l.hashesPerSecond !== undefined ? `  (${f(l.hashesPerSecond, 1)} hashes/s)` : ''),
  );
}
// One line for `npm run bench`: verify and sign rate ratios, and the p99 that matters most.
const ratioOf = (alg: Alg, what: 'sign' | 'verify') => f(throughputOut[alg]![what].ratio.median, 2);
const loaded = latency['argon2 on libuv pool ×8'];
const summary =
  loaded &&
  `jose ÷ ours, verify/s ${ALGS.map((a) => `${a} ${ratioOf(a, 'verify')}`).join(', ')}; ` +
    `sign/s ${ALGS.map((a) => `${a} ${ratioOf(a, 'sign')}`).join(', ')} (median of ${ROUNDS}); ` +
    `verify p99 with argon2 on libuv's pool: jose ${f(loaded.jose.p99)} ms, ours ${f(loaded.ours.p99)} ms`;
lines.push(summary ?? '');
process.stderr.write(`${lines.join('\n')}\n`);
const results = {
  rounds: ROUNDS,
  msPerMeasurement: MS,
  joseInFlight: IN_FLIGHT,
  throughput: throughputOut,
  latency,
  summary,
};
process.stdout.write(`${JSON.stringify(results)}\n`);
