// Parses Apex sources with prettier-plugin-apex (Salesforce's jorje parser underneath).
// Parsing, not formatting: a file passes when it is syntactically valid Apex, whatever its layout.
import { readFile } from "node:fs/promises";
import * as prettier from "prettier";
import * as apexPlugin from "prettier-plugin-apex";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("parse-apex: no files given");
  process.exit(2);
}

let failures = 0;
for (const file of files) {
  const text = await readFile(file, "utf8");
  try {
    await prettier.__debug.parse(text, {
      parser: "apex",
      plugins: [apexPlugin],
      filepath: file,
    });
    console.log(`  ok     ${file}`);
  } catch (error) {
    failures += 1;
    const detail = String(error?.message ?? error).split("\n").slice(0, 6).join("\n         ");
    console.error(`  FAIL   ${file}\n         ${detail}`);
  }
}

console.log(`apex parse: ${files.length - failures}/${files.length} files parsed`);
process.exit(failures === 0 ? 0 : 1);
