// Rests charged once made: parameters, nested patterns, loop heads (the body may declare the name again).
function f(a, ...r) { function r2() {} return r.length }
const g = ([a, ...b], {c, ...d} = {}) => b.length + Object.keys(d).length
const {p: [q, ...w], ...z} = {p: [1, 2, 3], y: 1}, after = w.length
for (let {m: [...n]} = {m: [4]}, i = 0; i < 1; i++) n.push(i)
for (const [k, ...v] of [[1, 2]]) { let v = 0 }
for (const {a, ...o} in {x: 1}) ;
let x, u; for ([x, ...u] of ['ab']) x
if (x) var [h, ...t] = [1], {s: [...e]} = {s: []}
label: for (const [...y] of [[1]]) continue label
exports.run = (...all) => f(...all) + g([1, 2], {c: 1}) + after
