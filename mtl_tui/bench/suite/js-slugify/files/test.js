const assert = require("assert");
const { slugify } = require("./slug");
assert.strictEqual(slugify("Hello World"), "hello-world");
assert.strictEqual(slugify("  Ready, set... go!  "), "ready-set-go");
assert.strictEqual(slugify("a--b"), "a-b");
console.log("ok");
