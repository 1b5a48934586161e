/**
 * Test helper: runs a toolchain command (go, gofmt, python3, sh) to completion
 * for the interop tests, with the exit code instead of an exception.
 *
 * @module
 */
import { execFile } from "node:child_process";

/** Result of a finished command. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link runToCompletion}. */
export interface RunToCompletionOptions {
  /** Working directory. */
  readonly cwd: string;
  /** Environment of the command. */
  readonly env: NodeJS.ProcessEnv;
  /** The command is killed after this long, in ms. */
  readonly timeoutMs: number;
  /** Written to stdin, which is then closed. @default "" */
  readonly input?: string;
  /** How to install the toolchain, appended to the error when `file` is not found. */
  readonly installHint: string;
}

/**
 * Runs `file args…` to completion (bounded by `timeoutMs`) and never throws for
 * a non-zero exit (the code is -1 when it was killed); rejects only when `file`
 * is not found, with `installHint`.
 */
export function runToCompletion(file: string, args: readonly string[], options: RunToCompletionOptions): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { cwd: options.cwd, env: options.env, timeout: options.timeoutMs, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        if (error && (error as NodeJS.ErrnoException).code === "ENOENT") {
          reject(new Error(`${file} not found: ${options.installHint}`));
          return;
        }
        const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(options.input ?? "");
  });
}
