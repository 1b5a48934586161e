// One contender, one or more figures, in a fresh process (run with --expose-gc). Argument: JSON
// { contender: "raw"|"peerlink"|"libp2p", figures: [...], quick, lib?: path of a peerlink build to load }.
// Prints one JSON line: { figure: result, ... }.
import { pathToFileURL } from "node:url";
import { FIGURES, FULL, QUICK, warmProcess } from "./figures.mjs";

const spec = JSON.parse(process.argv[2]);
// js-libp2p slows down superlinearly past ~100k pipelined 64 B messages on one stream (200k took 8 s,
// 400k did not finish in minutes): its run is capped there; the rate is per message either way.
const size = spec.quick ? QUICK : spec.contender === "libp2p" ? { ...FULL, smallCount: 100_000 } : FULL;
const lib = await import(spec.lib === undefined ? "../../dist/src/index.js" : pathToFileURL(spec.lib).href);

// One dialer per connection alive at once (see peerlink.mjs); the idle figure's warm-up batch has dialers of its own.
// Raw TLS gets as many client identities (see raw-tls.mjs), unless `sharedClient` (the listener's, for every dial).
const dialersFor = { setup: size.setupConns, resumed: size.setupConns, setupWarm: size.setupConns, resumedWarm: size.setupConns, idle: size.idleConns + size.idleWarm, first: size.firstMessages + 2, firstWarm: size.firstMessages + 2 };

let starter;
if (spec.contender === "raw") {
  const raw = await import("./raw-tls.mjs");
  const makeCredentials = () => lib.createTlsCredentials(lib.Identity.generate());
  starter = (resume, figure) => raw.start({ makeCredentials, resume, dialers: dialersFor[figure] ?? 1, shared: spec.sharedClient === true });
} else if (spec.contender === "peerlink") {
  const pl = await import("./peerlink.mjs");
  starter = (resume, figure) => pl.start({ lib, resume, dialers: dialersFor[figure] ?? 1 });
} else if (spec.contender === "libp2p") {
  const lp = await import("./libp2p.mjs");
  const make = await lp.load();
  starter = () => lp.start({ make, lanes: size.concurrency });
} else throw new Error(`unknown contender ${spec.contender}`);

const out = {};
for (const name of spec.figures) {
  const figure = FIGURES[name];
  if (figure.warmProcess) {
    const warm = await starter(false, "setup");
    try {
      await warmProcess(warm, size, { early: figure.warmEarly });
    } finally {
      await warm.stop();
    }
  }
  const node = await starter(figure.resume, name);
  try {
    out[name] = await figure.run(node, size, spec);
  } finally {
    await node.stop();
  }
}
process.stdout.write(`${JSON.stringify(out)}\n`);
process.exit(0);
