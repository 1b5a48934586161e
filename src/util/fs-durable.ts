/**
 * Small helpers for files that must survive crashes and concurrent writers.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { open } from "node:fs/promises";

/** The `code` of a Node system error (`"ENOENT"`, …), or `""` for anything else. */
export function errorCode(error: unknown): string {
  return typeof error === "object" && error !== null && typeof (error as { code?: unknown }).code === "string"
    ? (error as { code: string }).code
    : "";
}

/** Makes a rename or link in `dir` durable. Platforms that cannot fsync a directory are ignored. */
export async function fsyncDirectory(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, "r");
    await fh.sync();
  } catch (error) {
    const code = errorCode(error);
    if (code !== "EISDIR" && code !== "EINVAL" && code !== "EPERM" && code !== "EBADF" && code !== "EACCES") {
      throw error;
    }
  } finally {
    await fh?.close();
  }
}

/**
 * Writes `contents` to a new file next to `path` with an unguessable name, created exclusively (never
 * through a planted file or symlink), with `mode`, and fsynced. Returns its path; the caller renames or
 * links it into place and removes it.
 */
export async function writeExclusiveTemp(path: string, contents: string, mode: number): Promise<string> {
  const tmp = `${path}.tmp-${randomBytes(8).toString("hex")}`;
  const handle = await open(tmp, "wx", mode);
  try {
    await handle.writeFile(contents, "utf8");
    await handle.sync();
  } finally {
    await handle.close();
  }
  return tmp;
}
