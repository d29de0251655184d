// Rests in an assignment's nested pattern, and object rests, charged after the assignment
// (meter.js): as a statement, a value, chained, in a loop's head and update, an arrow's body,
// a call's argument.
let a, r, o, q, y
({a: [...r]} = {a: [1, 2]});
[a, [...r]] = [0, [3]]
y = ({k: a, ...o} = {k: 1, m: 2})
;[[...q], ...r] = [[4], 5, 6]
const f = () => [a, {...o}] = [1, {z: 3}]
for ([a, [...r]] = [0, [7]]; a < 2; [a, [...r]] = [a + 1, [8, 9]]) y = r.length
y = String(({p: [...q]} = {p: 'xy'}).p)
exports.go = (x) => { let u, v; return [({w: [u, ...v]} = {w: x}), v, f(), y] }
