import { hash } from '@node-rs/argon2';

/**
 * The raw argon2id hash rate of this machine, with the service's parameters
 * (m=19456 KiB, t=2, p=1) and its concurrency (BENCH_CONCURRENCY hashes at a
 * time, 2 by default): the most signins per second the CPU allows. Prints one
 * JSON line.
 */
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 2);
// `Algorithm` is an ambient const enum in the typings: Argon2id is 2.
const options = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

await hash('warm-up password', options);
let hashes = 0;
const started = performance.now();
const deadline = started + seconds * 1000;
await Promise.all(
  Array.from({ length: concurrency }, async (_, worker) => {
    while (performance.now() < deadline) {
      await hash(`bench password ${worker} ${hashes}`, options);
      hashes++;
    }
  }),
);
const elapsed = (performance.now() - started) / 1000;
process.stdout.write(
  `${JSON.stringify({ hashes, seconds: elapsed, rate: hashes / elapsed, concurrency })}\n`,
);
