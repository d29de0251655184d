// Rests whose target is a pattern: a parameter's own (an array pattern, an object pattern,
// an empty one), nested in a parameter's, a declaration's, an assignment's and a loop head's,
// with trailing commas and comments before the closing bracket.
const two = (...[a, b]) => a + b
function count(...{length}) { return length }
function none(...[]) { return arguments.length }
const nested = ([x, ...[y /* , */]]) => x + y
const {p: [c, ...[d, ]]} = {p: [1, 2, 3]}
let e, f
;({p: [e, ...[f]]} = {p: [4, 5, 6]})
for (const [m, ...[n]] of [[7, 8, 9]]) e += m + n
for ([e, ...[f,]] of [[1, 2]]) f += e
exports.run = (k) => two(k, 1) + count(k, k) + none() + nested([k, k]) + c + d + e + f
