// What `require("peerlink")` loads (the package's "require" export condition). peerlink is an ES module:
// Node >= 20.19 can require() it, older Node 20 releases cannot; say so in one line instead of Node's
// ERR_REQUIRE_ESM or "No exports main defined".
"use strict";
try {
  module.exports = require("../dist/src/index.js");
} catch (error) {
  if (error && (error.code === "ERR_REQUIRE_ESM" || error.code === "ERR_REQUIRE_ASYNC_MODULE")) {
    throw new Error(
      `peerlink is an ES module: use \`import { ConnectionManager } from "peerlink"\` or \`await import("peerlink")\` (require() of ES modules needs Node >= 20.19; this is ${process.version})`,
      { cause: error },
    );
  }
  if (error && error.code === "MODULE_NOT_FOUND") {
    throw new Error("peerlink: dist/ is not built: run `npm run build:ts` (npm ci does it through the prepare script)", { cause: error });
  }
  throw error;
}
