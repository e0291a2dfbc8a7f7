// run-policy-pack registers ts-node with `typeCheck: true` hard-coded, so every engine run would
// type-check the pack again (seconds and some 500 MiB; on a fresh runner each time). The pack is
// type-checked once, with the program, by `npm test`'s tsc; here it is only transpiled. The analyzer
// puts this directory on NODE_PATH, where the SDK's `require("ts-node")` finds it as no node_modules
// has ts-node; it wraps the ts-node the SDK would use otherwise, its vendored copy.
const path = require("node:path");
const tsNode = require(path.join(path.dirname(require.resolve("@pulumi/pulumi/package.json")), "vendor", "ts-node@7.0.1"));

module.exports = { ...tsNode, register: (options) => tsNode.register({ ...options, typeCheck: false, transpileOnly: true }) };
