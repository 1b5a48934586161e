// Time to create a node's self-signed TLS certificate (pure-JS X.509, Ed25519), the cost paid once per
// identity when a node starts. Median and mean of ROUNDS fresh identities after one warm-up.
// Run with `node bench/credentials.mjs` after `npm run build:ts`. This was an upper-bound assertion in the
// unit tests ("well under 50 ms"), which a busy machine broke; speed is measured here instead.
import { Identity } from "../dist/src/identity/identity.js";
import { createTlsCredentials } from "../dist/src/transport/tls-credentials.js";

const ROUNDS = Number(process.env.BENCH_CREDENTIAL_ROUNDS ?? 50);

await createTlsCredentials(Identity.generate()); // warm up the module
const samples = [];
for (let i = 0; i < ROUNDS; i++) {
  const identity = Identity.generate();
  const started = performance.now();
  await createTlsCredentials(identity);
  samples.push(performance.now() - started);
}
samples.sort((a, b) => a - b);
const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
console.log("| certificates | median ms | mean ms | p90 ms |");
console.log("|---|---|---|---|");
console.log(`| ${ROUNDS} | ${samples[Math.floor(ROUNDS / 2)].toFixed(1)} | ${mean.toFixed(1)} | ${samples[Math.floor(ROUNDS * 0.9)].toFixed(1)} |`);
