// A vitest reporter for scripts/reliability-report.mjs: collects, per test, its result, its duration and
// what it printed (`RELIABILITY {json}` figure lines and plain closing notes), and writes them as JSON to
// the path in RELIABILITY_RESULTS. Used only by `npm run reliability`.
import { writeFileSync } from "node:fs";
import { relative } from "node:path";

export default class ReliabilityReporter {
  #logs = new Map();
  #tests = [];
  #root = process.cwd();

  onUserConsoleLog(log) {
    if (log.taskId === undefined || log.type !== "stdout") return;
    const lines = this.#logs.get(log.taskId) ?? [];
    for (const line of log.content.split("\n")) if (line.trim() !== "") lines.push(line.trim());
    this.#logs.set(log.taskId, lines);
  }

  onTestCaseResult(testCase) {
    const result = testCase.result();
    this.#tests.push({
      id: testCase.id,
      file: relative(this.#root, testCase.module.moduleId),
      name: testCase.fullName,
      state: result.state,
      durationMs: Math.round(testCase.diagnostic()?.duration ?? 0),
    });
  }

  onTestRunEnd() {
    const out = process.env.RELIABILITY_RESULTS;
    if (out === undefined) return;
    const tests = this.#tests.map(({ id, ...test }) => {
      const lines = this.#logs.get(id) ?? [];
      const figures = lines.filter((l) => l.startsWith("RELIABILITY ")).map((l) => JSON.parse(l.slice("RELIABILITY ".length)));
      const notes = lines.filter((l) => !l.startsWith("RELIABILITY "));
      return { ...test, figures, notes };
    });
    writeFileSync(out, JSON.stringify({ tests }, null, 2));
  }
}
