/**
 * A strict parser of the Prometheus text exposition format (0.0.4): every line must be a HELP, TYPE or
 * sample line of the grammar, each family typed once before its samples, samples of a family contiguous,
 * no series twice, histogram buckets cumulative with `+Inf` equal to `_count`. Throws on the first problem.
 */

/** One sample line. */
export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** One metric family. */
export interface PromFamily {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly samples: PromSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function parseValue(text: string, line: number): number {
  if (text === "NaN") return Number.NaN;
  if (text === "+Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`line ${line}: bad value ${JSON.stringify(text)}`);
  return Number(text);
}

function parseLabels(text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf("=", i);
    if (eq < 0) throw new Error(`line ${line}: label without "="`);
    const name = text.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`line ${line}: bad label name ${JSON.stringify(name)}`);
    if (name in labels) throw new Error(`line ${line}: label ${name} twice`);
    if (text[eq + 1] !== '"') throw new Error(`line ${line}: label value of ${name} not quoted`);
    let j = eq + 2;
    let value = "";
    for (;;) {
      const c = text[j];
      if (c === undefined) throw new Error(`line ${line}: unterminated label value`);
      if (c === '"') break;
      if (c === "\\") {
        const next = text[j + 1];
        if (next === "\\") value += "\\";
        else if (next === '"') value += '"';
        else if (next === "n") value += "\n";
        else throw new Error(`line ${line}: bad escape \\${String(next)}`);
        j += 2;
        continue;
      }
      if (c === "\n") throw new Error(`line ${line}: raw newline in label value`);
      value += c;
      j++;
    }
    labels[name] = value;
    i = j + 1;
    if (i < text.length) {
      if (text[i] !== ",") throw new Error(`line ${line}: expected "," after label ${name}`);
      i++;
    }
  }
  return labels;
}

/** The family a sample name belongs to, given the families typed so far. */
function familyOf(name: string, families: Map<string, PromFamily>): PromFamily | undefined {
  const direct = families.get(name);
  if (direct) return direct;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (!name.endsWith(suffix)) continue;
    const f = families.get(name.slice(0, -suffix.length));
    if (f && (f.type === "histogram" || (f.type === "summary" && suffix !== "_bucket"))) return f;
  }
  return undefined;
}

/** Parses `text` strictly; returns the families by name. */
export function parsePrometheusText(text: string): Map<string, PromFamily> {
  if (text.length > 0 && !text.endsWith("\n")) throw new Error("the exposition must end with a newline");
  const families = new Map<string, PromFamily>();
  const series = new Set<string>();
  let current: PromFamily | undefined;
  const done = new Set<string>();
  const lines = text.split("\n");
  lines.pop();
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw.startsWith("# HELP ") || raw.startsWith("# TYPE ")) {
      const rest = raw.slice(7);
      const space = rest.indexOf(" ");
      const name = space < 0 ? rest : rest.slice(0, space);
      const arg = space < 0 ? "" : rest.slice(space + 1);
      if (!NAME.test(name)) throw new Error(`line ${line}: bad metric name ${JSON.stringify(name)}`);
      if (done.has(name)) throw new Error(`line ${line}: family ${name} appears again after other families`);
      let family = families.get(name);
      if (!family) {
        if (current && current.name !== name) done.add(current.name);
        family = { name, type: "untyped", help: "", samples: [] };
        families.set(name, family);
      }
      if (family.samples.length > 0) throw new Error(`line ${line}: HELP/TYPE of ${name} after its samples`);
      current = family;
      if (raw.startsWith("# TYPE ")) {
        if (!TYPES.has(arg)) throw new Error(`line ${line}: unknown type ${JSON.stringify(arg)}`);
        (family as { type: string }).type = arg;
      } else {
        (family as { help: string }).help = arg;
      }
      return;
    }
    if (raw.startsWith("#")) return;
    if (raw === "") return; // empty lines are ignored by the format
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(raw);
    if (!m) throw new Error(`line ${line}: not a sample line: ${JSON.stringify(raw)}`);
    const name = m[1]!;
    const labels = parseLabels(m[3] ?? "", line);
    const value = parseValue(m[4]!, line);
    const family = familyOf(name, families);
    if (!family) throw new Error(`line ${line}: sample ${name} has no TYPE before it`);
    if (family !== current) throw new Error(`line ${line}: samples of ${family.name} are not contiguous`);
    const key = `${name}{${Object.keys(labels)
      .sort()
      .map((k) => `${k}=${labels[k]!}`)
      .join(",")}}`;
    if (series.has(key)) throw new Error(`line ${line}: series ${key} twice`);
    series.add(key);
    if (family.type === "counter" && !(value >= 0)) throw new Error(`line ${line}: counter ${name} is ${value}`);
    family.samples.push({ name, labels, value });
  });
  for (const family of families.values()) if (family.type === "histogram") checkHistogram(family);
  return families;
}

function checkHistogram(family: PromFamily): void {
  const groups = new Map<string, PromSample[]>();
  for (const s of family.samples) {
    const { le: _le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const group = groups.get(key) ?? [];
    group.push(s);
    groups.set(key, group);
  }
  for (const [key, samples] of groups) {
    const buckets = samples.filter((s) => s.name === `${family.name}_bucket`);
    const count = samples.find((s) => s.name === `${family.name}_count`);
    if (!count || !samples.some((s) => s.name === `${family.name}_sum`)) throw new Error(`${family.name}${key}: _sum or _count missing`);
    let previousLe = Number.NEGATIVE_INFINITY;
    let previous = 0;
    for (const b of buckets) {
      const le = b.labels["le"] === "+Inf" ? Number.POSITIVE_INFINITY : Number(b.labels["le"]);
      if (!(le > previousLe)) throw new Error(`${family.name}${key}: buckets not in increasing le order`);
      if (b.value < previous) throw new Error(`${family.name}${key}: bucket le=${b.labels["le"]!} is below the one before`);
      previousLe = le;
      previous = b.value;
    }
    if (previousLe !== Number.POSITIVE_INFINITY) throw new Error(`${family.name}${key}: no +Inf bucket`);
    if (previous !== count.value) throw new Error(`${family.name}${key}: +Inf bucket ${previous} != _count ${count.value}`);
  }
}

/** The value of the series `name` with exactly `labels` (undefined when absent). */
export function sampleValue(families: Map<string, PromFamily>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const family of families.values()) {
    for (const s of family.samples) {
      if (s.name !== name) continue;
      const keys = Object.keys(s.labels);
      if (keys.length === Object.keys(labels).length && keys.every((k) => s.labels[k] === labels[k])) return s.value;
    }
  }
  return undefined;
}
