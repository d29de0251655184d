const a = [1, 2, 3], s = new Set(a)
exports.f = (...r) => [...a, ...(0, r), ...'ab', ...s].length + Math.max(...a, ...[4]) + Object.keys({...a, ...{x: 1}}).length
exports.g = (o) => new Array(...a)?.concat?.(...a) && o?.f?.(...a) && [a.indexOf(2), a.slice(-1), a.includes(3)]
const [h, ...t] =ports.h = () => [h, t, x, others, p, q, new Map([[1, 2]]), new WeakSet()]
