// apply's second argument is charged (from the comma: the argument may be in parentheses)
const f = function () { return arguments.length }
exports.run = (a) => f.apply(null, (0, a)) + f.apply(null, /* c */ a) + Math.max?.apply(null, a) + f.apply?.(null, [1]) +
  (function () { return f.apply(this, arguments) })(1, 2) + ({apply: (t, x) => x.length}).apply(null, [1, 2]) + f.apply(...[null, a])
