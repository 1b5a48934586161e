import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Identity } from "../../src/identity/identity.js";
import { dialChannel } from "../../src/transport/dial.js";
import { resolveTls } from "../../src/transport/tls-config.js";
import type { ResolvedTls, SecureChannel } from "../../src/transport/types.js";
import { startTcpRelay, startTlsMitmRelay } from "../helpers/tls-mitm-relay.js";
import { destroyAll, readBytes, startTestServer } from "./fixtures.js";
import { closed, countTransportHandles, expectHandlesBackTo } from "./resources.js";

let dialerTls: ResolvedTls;
let listenerTls: ResolvedTls;
let baseline: number;

beforeAll(async () => {
  baseline = countTransportHandles();
  dialerTls = await resolveTls(Identity.generate());
  listenerTls = await resolveTls(Identity.generate());
});

afterAll(async () => {
  await expectHandlesBackTo(baseline);
});

describe("a TLS man-in-the-middle relay", () => {
  it("forwards bytes unchanged both ways, including bytes sent right after TLS", async () => {
    const server = await startTestServer(listenerTls);
    const relay = await startTlsMitmRelay({ targetPort: server.port });
    let outbound: SecureChannel | undefined;
    let inbound: SecureChannel | undefined;
    try {
      outbound = await dialChannel({ host: relay.host, port: relay.port, tls: dialerTls });
      const early = Buffer.from([0x00, 0x01, 0xfe, 0xff, 0x80]);
      outbound.socket.write(early); // before the relay's upstream leg exists
      const result = await server.nextInbound();
      if (!result.ok) throw result.error;
      inbound = result.channel;
      expect(await readBytes(inbound.socket, early.length)).toEqual(early);
      const reply = readBytes(outbound.socket, 5);
      inbound.socket.write("reply");
      expect((await reply).toString()).toBe("reply");
    } finally {
      await destroyAll(outbound, inbound);
      await relay.close();
      await server.close();
    }
  });

  it("gives its two legs different tls-exporter values, each matching its own far end", async () => {
    const server = await startTestServer(listenerTls);
    const relay = await startTlsMitmRelay({ targetPort: server.port });
    let outbound: SecureChannel | undefined;
    let inbound: SecureChannel | undefined;
    try {
      outbound = await dialChannel({ host: relay.host, port: relay.port, tls: dialerTls });
      const pair = await relay.nextPair();
      const result = await server.nextInbound();
      if (!result.ok) throw result.error;
      inbound = result.channel;

      const dialerSide = Buffer.from(outbound.tlsExporter ?? []);
      const listenerSide = Buffer.from(inbound.tlsExporter ?? []);
      expect(dialerSide).toHaveLength(32);
      expect(listenerSide).toHaveLength(32);
      expect(dialerSide).not.toEqual(listenerSide);
      expect(Buffer.from(pair.downstream.tlsExporter ?? [])).toEqual(dialerSide);
      expect(Buffer.from(pair.upstream.tlsExporter ?? [])).toEqual(listenerSide);
      // The relay presented its own certificates on both legs.
      expect(pair.downstream.secure && pair.upstream.secure).toBe(true);
    } finally {
      await destroyAll(outbound, inbound);
      await relay.close();
      await server.close();
    }
  });

  it("closes the other leg when one side goes away, and close() destroys everything", async () => {
    const server = await startTestServer(listenerTls);
    const relay = await startTlsMitmRelay({ targetPort: server.port });
    let outbound: SecureChannel | undefined;
    try {
      outbound = await dialChannel({ host: relay.host, port: relay.port, tls: dialerTls });
      const result = await server.nextInbound();
      if (!result.ok) throw result.error;
      const listenerSideClosed = closed(result.channel.socket);
      result.channel.socket.resume();
      await destroyAll(outbound);
      await listenerSideClosed;

      const second = await dialChannel({ host: relay.host, port: relay.port, tls: dialerTls });
      second.socket.on("error", () => undefined);
      second.socket.resume();
      await server.nextInbound();
      await relay.close();
      await closed(second.socket);
    } finally {
      await relay.close();
      await server.close();
    }
  });
});

describe("a plain TCP relay", () => {
  it("forwards bytes unchanged both ways", async () => {
    const server = await startTestServer(undefined);
    const relay = await startTcpRelay({ targetPort: server.port });
    let outbound: SecureChannel | undefined;
    let inbound: SecureChannel | undefined;
    try {
      outbound = await dialChannel({ host: relay.host, port: relay.port });
      outbound.socket.write("through");
      const result = await server.nextInbound();
      if (!result.ok) throw result.error;
      inbound = result.channel;
      expect((await readBytes(inbound.socket, 7)).toString()).toBe("through");
      const pair = await relay.nextPair();
      expect(pair.downstream.secure || pair.upstream.secure).toBe(false);
      const back = readBytes(outbound.socket, 4);
      inbound.socket.write("back");
      expect((await back).toString()).toBe("back");
    } finally {
      await destroyAll(outbound, inbound);
      await relay.close();
      await server.close();
    }
  });
});
