// The sending side of the split throughput figure, in a process of its own. Argument: JSON
// { contender, lib?, target, count, bytes, window }. Dials the listener's `target`, sends `count` messages of
// `bytes` with at most `window` unsettled, prints one JSON line { cpuMs } (this process's CPU while sending)
// and exits when its parent closes stdin.
import { pathToFileURL } from "node:url";
import { cpuMs, sendWindowed } from "./common.mjs";

const spec = JSON.parse(process.argv[2]);
const lib = await import(spec.lib === undefined ? "../../dist/src/index.js" : pathToFileURL(spec.lib).href);
let conn;
if (spec.contender === "raw") {
  const raw = await import("./raw-tls.mjs");
  conn = await raw.dialFrom({ credentials: await lib.createTlsCredentials(lib.Identity.generate()), target: spec.target });
} else if (spec.contender === "peerlink") {
  conn = await (await import("./peerlink.mjs")).dialFrom({ lib, target: spec.target });
} else if (spec.contender === "libp2p") {
  const lp = await import("./libp2p.mjs");
  conn = await lp.dialFrom({ make: await lp.load(), target: spec.target });
} else throw new Error(`unknown contender ${spec.contender}`);

const payload = new Uint8Array(spec.bytes).fill(7);
const cpu0 = cpuMs();
await sendWindowed(spec.count, spec.window, () => conn.send(payload));
process.stdout.write(`${JSON.stringify({ cpuMs: cpuMs() - cpu0 })}\n`);
// Stays up (and connected) until the parent has every byte and closes our stdin.
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
