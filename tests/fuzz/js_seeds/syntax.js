class A { #x = 1; static s = 2; get x() { return this.#x } static { this.t = 3 } }
async function* g(n) { for await (const v of [1, 2]) yield v ?? n?.a; }
const f = ({a, b: [c] = []}, ...r) => a ?? c ?? r.length
label: for (let i = 0; i < 3; i++) { if (i) continue label; do i++; while (false) }
for (const k in {a: 1}) ;
while (false) x => x
exports.f = (x = 0n) => x + 1n
exports.g = function () { return `t${1}\u2028` }
exports.strict = function () { 'use strict'; "another"; try { undeclared = 1 } catch (e) { return true } }
