import { describe, expect, it } from "vitest";
import { ConnectionManager } from "../../src/node/connection-manager.js";
import { Identity } from "../../src/identity/identity.js";

describe("a node given no peerStore", () => {
  it("keeps its peer database in memory only: changes never wait for a save", async () => {
    const node = new ConnectionManager({ listen: [], maintenance: false, reconnect: false });
    await node.start();
    try {
      node.peers.upsert(Identity.generate().peerId.toString(), { addresses: ["127.0.0.1:4001"] }, Date.now());
      expect(node.peers.size).toBe(1);
      // With a store that keeps copies (MemoryPeerStore, a file) the change would be pending (dirty) until saved.
      expect(node.peers.dirty).toBe(false);
    } finally {
      await node.stop();
    }
  });
});
