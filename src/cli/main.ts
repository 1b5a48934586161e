/**
 * Entry point of the `peerlink` executable (bin/peerlink.js imports this
 * module from dist/): parses arguments, runs the command, maps failures to
 * exit codes (and to an `error` event under `--json`), and turns SIGINT,
 * SIGTERM and a closed stdout (EPIPE) into a graceful shutdown.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import type { Readable } from "node:stream";
import { ErrorCode, PeerlinkError } from "../errors.js";
import { Identity } from "../identity/identity.js";
import { parseArgs, type IdCommand, type KeygenCommand } from "./args.js";
import { formatNodeEvent } from "./events.js";
import { runNode } from "./node.js";
import { usage } from "./usage.js";

/** Exit code of a successful run (including a shutdown by SIGINT/SIGTERM). */
export const EXIT_OK = 0;
/** Exit code when the node could not start or failed. */
export const EXIT_FAILURE = 1;
/** Exit code of a usage error (bad arguments). */
export const EXIT_USAGE = 2;

/** Streams and process hooks {@link main} uses; tests substitute them. */
export interface MainIo {
  /**
   * Receives event lines and help text. If it is an event emitter (a real stream), an `'error'` on it
   * (EPIPE: the reader went away, as in `peerlink node --json | head -1`) stops the node gracefully.
   */
  readonly stdout: {
    write(text: string): unknown;
    readonly isTTY?: boolean;
    on?(event: "error", listener: (error: Error) => void): unknown;
    off?(event: "error", listener: (error: Error) => void): unknown;
  };
  /** Receives error messages. */
  readonly stderr: { write(text: string): unknown };
  /** Lines to send as messages (`peerlink node`); none when absent. */
  readonly stdin?: Readable;
  /** Where SIGINT/SIGTERM handlers are installed. @default process */
  readonly signals?: Pick<NodeJS.Process, "once" | "off">;
}

/** The package version (`peerlink --version`), read from the package.json above this module. */
export function packageVersion(): string {
  for (const up of ["../../package.json", "../../../package.json"]) {
    const file = new URL(up, import.meta.url);
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
    if (pkg.name === "peerlink" && pkg.version !== undefined) return pkg.version;
  }
  return "unknown";
}

/**
 * Runs the CLI with `argv` (the arguments after the executable name) and
 * resolves with the process exit code: 0 on success (a signal-triggered
 * shutdown included), 1 when the node failed, 2 on a usage error.
 */
export async function main(argv: readonly string[], io: MainIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }): Promise<number> {
  const json = argv.includes("--json");
  const fail = (error: unknown, code: number): number => {
    const e = PeerlinkError.from(error);
    if (json) io.stdout.write(`${formatNodeEvent({ event: "error", code: e.code, message: e.rawMessage }, true)}\n`);
    else io.stderr.write(`peerlink: ${code === EXIT_USAGE ? "" : `[${e.code}] `}${e.rawMessage}\n`);
    return code;
  };
  let command;
  try {
    command = parseArgs(argv);
  } catch (error) {
    return fail(error, EXIT_USAGE);
  }
  switch (command.command) {
    case "help":
      io.stdout.write(usage());
      return EXIT_OK;
    case "version":
      io.stdout.write(`${packageVersion()}\n`);
      return EXIT_OK;
    case "keygen":
    case "id":
      try {
        io.stdout.write(await keyCommand(command));
        return EXIT_OK;
      } catch (error) {
        return fail(error, EXIT_FAILURE);
      }
    case "node":
      break;
  }
  const signals = io.signals ?? process;
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  signals.once("SIGINT", onSignal);
  signals.once("SIGTERM", onSignal);
  // Output that can no longer be written (EPIPE) ends the run like a signal: goodbyes still go out.
  let outputBroken = false;
  const onOutputError = (): void => {
    outputBroken = true;
    controller.abort();
  };
  io.stdout.on?.("error", onOutputError);
  const write = (text: string): void => {
    if (!outputBroken) io.stdout.write(text);
  };
  const table = command.table ?? (io.stdout.isTTY === true && !command.json);
  try {
    await runNode(
      command,
      { line: (text) => write(`${text}\n`), ...(table ? { raw: write } : {}), ...(command.stdin && io.stdin ? { stdin: io.stdin } : {}) },
      controller.signal,
    );
    return EXIT_OK;
  } catch (error) {
    const e = PeerlinkError.from(error);
    // A signal during startup is a requested stop, not a failure.
    if (controller.signal.aborted && e.code === ErrorCode.ABORTED) {
      write(`${formatNodeEvent({ event: "stopped" }, command.json)}\n`);
      return EXIT_OK;
    }
    return fail(e, EXIT_FAILURE);
  } finally {
    signals.off("SIGINT", onSignal);
    signals.off("SIGTERM", onSignal);
    io.stdout.off?.("error", onOutputError);
  }
}

async function keyCommand(command: KeygenCommand | IdCommand): Promise<string> {
  let identity: Identity;
  if (command.command === "keygen") {
    if (!command.force && existsSync(command.file)) {
      throw new PeerlinkError(ErrorCode.INVALID_ARGUMENT, `${command.file} exists (--force replaces it; peerlink id ${command.file} prints its peer id)`);
    }
    identity = Identity.generate();
    await identity.save(command.file);
  } else {
    identity = await Identity.load(command.file);
  }
  const peerId = identity.peerId.toString();
  return command.json ? `${JSON.stringify({ event: command.command, peerId, file: command.file })}\n` : `${peerId}\n`;
}
