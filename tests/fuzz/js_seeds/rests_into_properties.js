// Rests into properties, charged as they are set: nested, object rests, loop heads,
// parenthesized, computed keys, private names and super, and one beside an await (left as it was).
const o = {}, k = ['x']
let a
;[a, [...o.p]] = [1, [2, 3]]
;({a, ...o[k[0]]} = {a: 1, b: 2})
for ([o.h, ...(o.t)] of ['xyz']) a += o.t.length
class B { set q(v) { this.n = v.length } }
class C extends B { #r; m(x) { [...this.#r] = x; [.../* c */super.q] = x; return this.#r.length } }
async function later(p) { [...o[await p]] = [4] }
exports.run = (n) => { [...o.p] = [n]; return new C().m([n]) + o.p.length + a }
