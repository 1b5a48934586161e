/**
 * Entry point of the `peerlink` executable (bin/peerlink.js imports this
 * module from dist/): parses arguments, runs the command, maps failures to
 * exit codes, and turns SIGINT/SIGTERM into a graceful shutdown.
 *
 * @module
 */
import { ErrorCode, PeerlinkError } from "../errors.js";
import { parseArgs, USAGE } from "./args.js";
import { formatNodeEvent, runNode } from "./node.js";

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
  readonly stdout: { write(text: string): unknown; on?(event: "error", listener: (error: Error) => void): unknown; off?(event: "error", listener: (error: Error) => void): unknown };
  /** Receives error messages. */
  readonly stderr: { write(text: string): unknown };
  /** Where SIGINT/SIGTERM handlers are installed. @default process */
  readonly signals?: Pick<NodeJS.Process, "once" | "off">;
}

/**
 * Runs the CLI with `argv` (the arguments after the executable name) and
 * resolves with the process exit code: 0 on success (a signal-triggered
 * shutdown included), 1 when the node failed, 2 on a usage error.
 */
export async function main(argv: readonly string[], io: MainIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let command;
  try {
    command = parseArgs(argv);
  } catch (error) {
    io.stderr.write(`peerlink: ${PeerlinkError.from(error).rawMessage}\n`);
    return EXIT_USAGE;
  }
  if (command.command === "help") {
    io.stdout.write(USAGE);
    return EXIT_OK;
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
  const line = (text: string): void => {
    if (!outputBroken) io.stdout.write(`${text}\n`);
  };
  try {
    await runNode(command, { line }, controller.signal);
    return EXIT_OK;
  } catch (error) {
    const e = PeerlinkError.from(error);
    // A signal during startup is a requested stop, not a failure.
    if (controller.signal.aborted && e.code === ErrorCode.ABORTED) {
      line(formatNodeEvent({ event: "stopped" }, command.json));
      return EXIT_OK;
    }
    io.stderr.write(`peerlink: [${e.code}] ${e.rawMessage}\n`);
    return EXIT_FAILURE;
  } finally {
    signals.off("SIGINT", onSignal);
    signals.off("SIGTERM", onSignal);
    io.stdout.off?.("error", onOutputError);
  }
}
