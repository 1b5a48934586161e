import net from "node:net";

/**
 * A port of 127.0.0.1 nothing listens on, below Linux's ephemeral range (32768–60999): a port-0 listener of a
 * test running in parallel is never given it, so a test may dial it expecting a refusal, or bind it later,
 * without losing a race for it to another test.
 */
export async function closedPort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const server = net.createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => resolve(true));
    });
    if (!bound) continue;
    await new Promise((resolve) => server.close(resolve));
    return port;
  }
  throw new Error("no free port below the ephemeral range in 100 tries");
}
