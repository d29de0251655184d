// RegExp as scripts see it (a native without the legacy statics): constructed with and
// without new, from a regex, subclassed, its species, split and matchAll through it.
const re = /a(b)?/g
const made = [new RegExp('x+', 'gi'), RegExp('y'), RegExp(re), RegExp(re, 'y'), new RegExp(re), new RegExp()]
class Sub extends RegExp { constructor(p, f) { super(p, f) } get flags() { return super.flags } }
const sub = new Sub(',', 'g')
const parts = 'a,b,c'.split(sub).concat([...'ab1ab2'.matchAll(re)].map((m) => m[0]))
const species = [RegExp[Symbol.species], Sub[Symbol.species], /z/.constructor, Object.getPrototypeOf(Sub)]
const statics = ['$1', 'input', 'lastMatch', "$'"].map((k) => RegExp[k])
let bad
try { bad = new RegExp('(') } catch (e) { bad = e.name }
exports.f = (s) => [made.length, parts.join(), species.length, statics.join(), bad, String(s).replace(/\d/g, '#')].join('|')
