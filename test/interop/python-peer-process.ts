/**
 * Test helper: the Python peer in interop/python/ (Debian's /usr/bin/python3
 * with python3-protobuf, python3-cryptography and python3-openssl): the toolchain check, one-shot
 * commands, and one running `peerlink_peer.py listen|dial` process driven
 * through its JSON-line stdout events and stdin commands (see interop/README.md
 * and {@link PeerProcess}).
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PeerProcess } from "./peer-process.js";
import { runToCompletion, type CommandResult } from "./run-command.js";

/** interop/python/, the Python peer. */
export const PYTHON_PEER_DIR = fileURLToPath(new URL("../../interop/python/", import.meta.url));

/** The peer's entry point. */
export const PYTHON_PEER_SCRIPT = join(PYTHON_PEER_DIR, "peerlink_peer.py");

/** Debian's interpreter: the `python3` first on PATH may be another one that cannot see Debian's modules. */
export const PYTHON = "/usr/bin/python3";

/** Modules the peer imports from Debian packages. */
export const PYTHON_MODULES = ["google.protobuf", "cryptography.hazmat.primitives.asymmetric.ed25519", "OpenSSL.SSL"] as const;

const MISSING_TOOLCHAIN =
  "the Python interop tests need Debian's /usr/bin/python3 with python3-protobuf, python3-cryptography and python3-openssl, and protoc: " +
  "`apt-get install -y python3 python3-protobuf python3-cryptography python3-openssl protobuf-compiler` (bash .ci/run installs them)";

/** Environment of every Python command: no bytecode files in the repository, UTF-8 stdio. */
function pythonEnv(): NodeJS.ProcessEnv {
  return { ...process.env, PYTHONDONTWRITEBYTECODE: "1", PYTHONIOENCODING: "utf-8", PYTHONUNBUFFERED: "1" };
}

/** Runs a command to completion (bounded by `timeoutMs`, stdin from `input`); never throws for a non-zero exit. */
export function runCommand(
  file: string,
  args: readonly string[],
  options: { cwd?: string; input?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  const { cwd = PYTHON_PEER_DIR, timeoutMs = 20_000, input = "" } = options;
  return runToCompletion(file, args, { cwd, env: pythonEnv(), timeoutMs, input, installHint: MISSING_TOOLCHAIN });
}

/**
 * Fails loudly (never skips) when the interpreter or one of `modules` is missing.
 * The parameters exist to test this check.
 */
export async function requirePython(python: string = PYTHON, modules: readonly string[] = PYTHON_MODULES): Promise<void> {
  const check = await runCommand(python, ["-c", `import ${modules.join(", ")}`]);
  if (check.code !== 0) throw new Error(`${python} cannot import ${modules.join(", ")}: ${check.stderr.trim()}\n${MISSING_TOOLCHAIN}`);
}

/** A `peerlink_peer.py listen|dial` process and everything it reported. */
export class PythonPeerProcess extends PeerProcess {
  private constructor(args: readonly string[]) {
    super("peerlink_peer.py", PYTHON, [PYTHON_PEER_SCRIPT, ...args], pythonEnv());
  }

  /** Starts `peerlink_peer.py` with `args` (e.g. `["dial", "--addr", "127.0.0.1:4001"]`). */
  static start(args: readonly string[]): PythonPeerProcess {
    return new PythonPeerProcess(args);
  }

  /** Starts a listener on 127.0.0.1 and resolves once it reported its port and peer id. */
  static async listen(args: readonly string[] = []): Promise<PythonPeerProcess & { addr: string; port: number; peerId: string }> {
    const p = new PythonPeerProcess(["listen", "--addr", "127.0.0.1:0", ...args]);
    const ev = await p.waitFor((e) => e.event === "listening", "listening");
    const addr = String(ev["addr"]);
    return Object.assign(p, { addr, port: Number(addr.slice(addr.lastIndexOf(":") + 1)), peerId: String(ev["peerId"]) });
  }
}
