// Every place the call-depth splices go: returns (bane, ASI, with `;` before else), catches
// (no binding, a name, a$pattern), finally, await (parenthesized operands), for await.
function f(x) { if (x) return; else if (x === 0) return /* ; */ (x) ; else return (x) + (1) }
function g(x) { return
  (x) }
const h = async (x) => { try { return await (x).y } catch ({message, stack = 1}) { return } finally { x++ } }
async function k(xs) { for await (const x of (xs))(1) + await 2; return (await (r)) }
