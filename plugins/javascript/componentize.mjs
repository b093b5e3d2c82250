// Builds a county plugin written in JavaScript into a WebAssembly component
// for the world `county-list` of the Qingdan contract:
//
//   node componentize.mjs SOURCE.js WIT_DIR OUT.wasm
//
// It calls ComponentizeJS directly (the `jco componentize` command wraps the
// same call) with every WASI feature it can leave out disabled: county rules
// need no clock, randomness, console or network. (The engine still imports
// a few WASI interfaces, which the host provides deterministically and
// without capabilities.)

import { componentize } from "@bytecodealliance/componentize-js";
import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";

const [source, wit, out] = process.argv.slice(2);
if (!source || !wit || !out) {
  console.error("usage: node componentize.mjs SOURCE.js WIT_DIR OUT.wasm");
  process.exit(2);
}
const { component } = await componentize({
  sourcePath: resolve(source),
  witPath: resolve(wit),
  worldName: "county-list",
  disableFeatures: ["stdio", "random", "clocks", "http", "fetch-event"],
});
await writeFile(out, component);
console.log(`${out}: ${component.length} bytes`);
