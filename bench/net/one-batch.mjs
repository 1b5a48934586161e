// The harness of the per-connection yardsticks (calls.mjs, allocation.mjs): each contender in a fresh child
// process, `warm` batches of `connections` connections (64 dials at a time, each batch closed before the next),
// then one more batch measured between `begin` and `end`, which see the process's inspector session.
import { execFile } from "node:child_process";
import { Session } from "node:inspector/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { numberOption, pool, sleep } from "./common.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const CONCURRENCY = 64;
const run = promisify(execFile);

/**
 * A yardstick's entry point. In a child (`--child contender size warm`): prints what `measure(contender, size,
 * warm)` resolves with, as JSON, and exits. In the parent: reads `--connections` (256) and `--warm` (4), runs the
 * yardstick's own file (`scriptUrl`) once per contender, and resolves with the connection count and each child's
 * output by contender.
 */
export async function runYardstick(scriptUrl, args, measure) {
  if (args[0] === "--child") {
    console.log(JSON.stringify(await measure(args[1], Number(args[2]), Number(args[3]))));
    process.exit(0);
  }
  const connections = numberOption(args, "--connections", 256);
  const warm = numberOption(args, "--warm", 4);
  return { connections, byContender: await inChildren(fileURLToPath(scriptUrl), connections, warm) };
}

/**
 * In the parent: runs `script` (a yardstick's own file) once per contender, with `--child contender size warm`,
 * and resolves with each child's JSON output by contender.
 */
async function inChildren(script, connections, warm) {
  const out = {};
  for (const contender of ["raw", "peerlink"]) {
    const child = [script, "--child", contender, String(connections), String(warm)];
    const { stdout } = await run(process.execPath, child, { maxBuffer: 64 * 2 ** 20 });
    out[contender] = JSON.parse(stdout);
  }
  return out;
}

/**
 * In a child: starts `contender` (one dialer identity per connection), runs `warmBatches` batches, then one more
 * with `begin(session)` before its first dial and `end(session)` once every connection is accepted (setup only:
 * the close comes after). Resolves with what `end` returned.
 */
export async function measureOneBatch(contender, size, warmBatches, { begin, end }) {
  const lib = await import(pathToFileURL(path.join(root, "dist/src/index.js")).href);
  const node =
    contender === "raw"
      ? await (await import("./raw-tls.mjs")).start({ makeCredentials: () => lib.createTlsCredentials(lib.Identity.generate()), dialers: size })
      : await (await import("./peerlink.mjs")).start({ lib, dialers: size });
  let accepted = 0;
  node.onAccept(() => accepted++);
  const session = new Session();
  session.connect();
  const batch = async (measured) => {
    const conns = [];
    accepted = 0;
    if (measured) await begin(session);
    await pool(size, CONCURRENCY, async () => conns.push(await node.dial()));
    for (let i = 0; accepted < size && i < 10_000; i++) await sleep(1);
    if (accepted < size) throw new Error(`${contender}: ${accepted} of ${size} connections accepted`);
    const result = measured ? await end(session) : undefined;
    for (const c of conns) c.close();
    await node.settled?.();
    await sleep(50);
    return result;
  };
  try {
    for (let b = 0; b < warmBatches; b++) await batch(false);
    return await batch(true);
  } finally {
    session.disconnect();
    await node.stop();
  }
}
