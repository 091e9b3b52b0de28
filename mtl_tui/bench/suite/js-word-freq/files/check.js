const fs = require("fs");
const got = fs.readFileSync("out.txt", "utf8").trim().split("\n");
const expected = ["dog 3", "the 3", "and 2"];
if (JSON.stringify(got) !== JSON.stringify(expected)) { console.error(got); process.exit(1); }
console.log("ok");
