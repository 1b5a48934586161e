#!/usr/bin/env node
// Fails when the modules under src/ and generated/ import each other in a cycle.
// Every kind of import counts, because a cycle of types still ties the modules'
// designs together: `import`, `import type`, `export … from`, `import x = require()`,
// `import("…")` types and dynamic `import()` calls. Only relative specifiers are
// followed (packages cannot import us back).
//
// Usage: node scripts/check-import-cycles.mjs [dir…]   (default: src generated)
// Prints one line per cycle, `a.ts → b.ts → a.ts`, marking type-only edges, and
// exits 1 when there is any. For every edge inside a strongly connected group of
// modules it prints the shortest cycle through that edge, so each listed edge is
// one that, removed, may break a cycle.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = fileURLToPath(new URL("..", import.meta.url));

function listTsFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listTsFiles(path));
    else if (/\.(m|c)?ts$/.test(name) && !name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

/** Maps a relative specifier to the source file it names, or undefined when it names none of ours. */
function resolveSpecifier(fromFile, specifier) {
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return undefined;
  const base = resolve(dirname(fromFile), specifier);
  const candidates = [
    base.replace(/\.js$/, ".ts").replace(/\.mjs$/, ".mts").replace(/\.cjs$/, ".cts"),
    base,
    `${base}.ts`,
    join(base, "index.ts"),
  ];
  return candidates.find((c) => /\.(m|c)?ts$/.test(c) && existsSync(c) && statSync(c).isFile());
}

/** Every module `file` imports: specifier → whether all its imports are type-only. */
function importsOf(file) {
  const text = readFileSync(file, "utf8");
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found = new Map();
  const add = (specifier, typeOnly) => {
    found.set(specifier, (found.get(specifier) ?? true) && typeOnly);
  };
  const visit = (node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      let typeOnly = false;
      if (clause !== undefined) {
        const bindings = clause.namedBindings;
        typeOnly =
          clause.isTypeOnly ||
          (clause.name === undefined &&
            bindings !== undefined &&
            ts.isNamedImports(bindings) &&
            bindings.elements.length > 0 &&
            bindings.elements.every((e) => e.isTypeOnly));
      }
      add(node.moduleSpecifier.text, typeOnly);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.exportClause;
      const typeOnly =
        node.isTypeOnly ||
        (clause !== undefined && ts.isNamedExports(clause) && clause.elements.length > 0 && clause.elements.every((e) => e.isTypeOnly));
      add(node.moduleSpecifier.text, typeOnly);
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      add(node.moduleReference.expression.text, node.isTypeOnly);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      add(node.argument.literal.text, true);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments.length > 0 &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      add(node.arguments[0].text, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The import graph: file → (imported file → type-only). */
export function importGraph(dirs) {
  const files = dirs.flatMap((d) => (existsSync(d) ? listTsFiles(d) : []));
  const graph = new Map();
  for (const file of files) {
    const edges = new Map();
    for (const [specifier, typeOnly] of importsOf(file)) {
      const target = resolveSpecifier(file, specifier);
      if (target !== undefined) edges.set(target, (edges.get(target) ?? true) && typeOnly);
    }
    graph.set(file, edges);
  }
  return graph;
}

/** Strongly connected components (Tarjan, iterative), largest first. */
function components(graph) {
  let counter = 0;
  const index = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const result = [];
  for (const start of graph.keys()) {
    if (index.has(start)) continue;
    const work = [[start, [...(graph.get(start)?.keys() ?? [])], 0]];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      const [node, next] = frame;
      if (frame[2] < next.length) {
        const to = next[frame[2]++];
        if (!graph.has(to)) continue;
        if (!index.has(to)) {
          index.set(to, counter);
          low.set(to, counter++);
          stack.push(to);
          onStack.add(to);
          work.push([to, [...(graph.get(to)?.keys() ?? [])], 0]);
        } else if (onStack.has(to)) {
          low.set(node, Math.min(low.get(node), index.get(to)));
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1][0];
        low.set(parent, Math.min(low.get(parent), low.get(node)));
      }
      if (low.get(node) === index.get(node)) {
        const scc = [];
        let member;
        do {
          member = stack.pop();
          onStack.delete(member);
          scc.push(member);
        } while (member !== node);
        const selfLoop = graph.get(node)?.has(node) ?? false;
        if (scc.length > 1 || selfLoop) result.push(scc.sort());
      }
    }
  }
  return result.sort((a, b) => b.length - a.length);
}

/** Shortest path from `from` to `to` inside `members`, as a list of files (BFS). */
function shortestPath(graph, members, from, to) {
  const previous = new Map([[from, undefined]]);
  const queue = [from];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i];
    if (node === to) break;
    for (const next of graph.get(node).keys()) {
      if (members.has(next) && !previous.has(next)) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  if (!previous.has(to)) return undefined;
  const path = [];
  for (let node = to; node !== undefined; node = previous.get(node)) path.unshift(node);
  return path;
}

/** For every edge inside a cycle group, the shortest cycle through it; deduplicated. */
export function findCycles(graph) {
  const cycles = [];
  const seen = new Set();
  const groups = components(graph);
  for (const scc of groups) {
    const members = new Set(scc);
    for (const from of scc) {
      for (const to of graph.get(from).keys()) {
        if (!members.has(to)) continue;
        const back = shortestPath(graph, members, to, from);
        if (back === undefined) continue;
        const cycle = [from, ...back]; // from → to → … → from
        // Canonical rotation so each cycle is reported once.
        const ring = cycle.slice(0, -1);
        const first = ring.indexOf([...ring].sort()[0]);
        const rotated = [...ring.slice(first), ...ring.slice(0, first)];
        const key = rotated.join("\n");
        if (seen.has(key)) continue;
        seen.add(key);
        cycles.push([...rotated, rotated[0]]);
      }
    }
  }
  return { groups, cycles };
}

function main() {
  const args = process.argv.slice(2);
  const dirs = (args.length > 0 ? args : ["src", "generated"]).map((d) => resolve(root, d));
  const graph = importGraph(dirs);
  const { groups, cycles } = findCycles(graph);
  const name = (file) => relative(root, file).split(sep).join("/");
  if (cycles.length === 0) {
    console.log(`import cycles: none in ${graph.size} modules`);
    return;
  }
  for (const cycle of cycles) {
    let line = name(cycle[0]);
    for (let i = 1; i < cycle.length; i++) {
      const typeOnly = graph.get(cycle[i - 1]).get(cycle[i]);
      line += ` ${typeOnly ? "→(type)" : "→"} ${name(cycle[i])}`;
    }
    console.error(`import cycle: ${line}`);
  }
  console.error(
    `import cycles: ${cycles.length} cycle(s) in ${groups.length} group(s) of mutually dependent modules (${groups
      .map((g) => g.length)
      .join(", ")} modules); break each group by moving the shared types to a module that imports none of them`,
  );
  process.exitCode = 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
