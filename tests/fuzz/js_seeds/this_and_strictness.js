// `this` in every place it can be the global or not: strict functions, classes, arrows at
// the top level, computed keys, heritage, a sloppy-looking directive that is none.
class Base { constructor() { this.n = 0 } inc() { return ++this.n } static make() { return new this() } }
class Derived extends (function () { return Base })() { x = this; static y = this; static { this.z = 1 } [(() => 'k')()]() { return this } }
const top = (() => this)()
const o = { m() { return this }, get g() { return this }, [Symbol.iterator]: function* () { yield this } }
function sloppyLooking() { 'use\x20strict'; return typeof this }
function inner() { 'use strict'; const f = () => this; return f() }
exports.count = (k) => { const c = Base.make(); for (let i = 0; i < k; i++) c.inc(); return c.n }
exports.kinds = () => [typeof top, typeof o.m(), typeof sloppyLooking(), typeof inner(), typeof new Derived().x]
