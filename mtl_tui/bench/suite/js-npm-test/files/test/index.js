const assert = require("assert");
const { double } = require("../lib");
assert.strictEqual(double(21), 42);
console.log("ok");
