// Every place the call-depth splices go: returns (bare, ASI, with `;` before else), catches
// (no binding, a name, a pattern), finally, await (parenthesized operands), for await.
function f(x) { if (x) return; else if (x === 0) return /* ; */ (x) ; else return (x) + (1) }
function g(x) { return
  (x) }
const h = async (x) => { try { return await (x).y } catch ({message, stack = 1}) { return } finally { x++ } }
async function k(xs) { for await (const x of (xs)) { await (x) } try {} catch {} try {} catch (e) {} }
function* gen() { try { yield (1) } finally { return } }
class A { static { try {} catch { } } m() { return [`)${'('}`, /\(/] } }
exports.f = (x) => f(x) + g(x)
function* y(a) { const b = yield (a) + 1; yield; yield
  (b); yield* (y(b)); try { yield } catch ({e}) { return yield } }
const aw = async () => { const r = await (1) + await 2; return (await (r)) }
