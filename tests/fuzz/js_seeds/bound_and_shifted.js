// Bindings whose calls copy their bound arguments (counted when made), and shifts of an
// array, an array-like and a proxy.
const f = (...r) => r.length
const g = f.bind(null, 1, 2)
let h = g.bind(null, ...[3, 4])
for (let i = 0; i < 3; i++) h = h.bind(null)
const q = [1, 2, 3]
q.shift()
Array.prototype.shift.call({length: 2, 0: 'a', 1: 'b'})
new Proxy([5, 6], {}).shift()
exports.run = (n) => h(n) + q.length
