// Code outside function bodies: parameter lists, class fields, heritage, computed keys,
// static blocks; async functions whose throws go to a promise; empty bodies.
function f(a = (1, 2), {b = f, [String(a)]: c = a} = {}, [d = /* = */ b] = [], ...[e = 3]) { return a }
const g = async (x = 1, {y} = {y: x}) => { throw x + y }
async function h(k = class extends (Object) { static { k } static s = 1; [('m' + 1)] = () => 2 }) {}
class A extends (class {}) { x = new.target; #p = this; [Symbol.iterator] = function* () {}; static {} }
async function twice() { return t(); function t() {} function t() { var u } }
exports.f = (n = 0) => f(n) + (async () => {}, 1)
