/**
 * Test helper: a scratch directory that exists for one test body.
 *
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Creates a fresh directory under `os.tmpdir()` whose name starts with
 * `prefix`, runs `body` with its path, and removes it recursively afterwards,
 * whether `body` resolved or threw.
 */
export async function withTempDir<T>(prefix: string, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
