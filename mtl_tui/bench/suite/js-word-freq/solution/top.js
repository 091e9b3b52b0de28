const fs = require("fs");
const words = fs.readFileSync("text.txt", "utf8").toLowerCase().match(/[a-z]+/g) || [];
const counts = new Map();
for (const w of words) counts.set(w, (counts.get(w) || 0) + 1);
const top = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 3);
for (const [w, c] of top) console.log(`${w} ${c}`);
