const assert = require("assert");
const { toRoman } = require("./roman");
const cases = { 1: "I", 4: "IV", 9: "IX", 14: "XIV", 40: "XL", 90: "XC", 400: "CD", 1994: "MCMXCIV", 3999: "MMMCMXCIX" };
for (const [n, r] of Object.entries(cases)) assert.strictEqual(toRoman(Number(n)), r);
console.log("ok");
