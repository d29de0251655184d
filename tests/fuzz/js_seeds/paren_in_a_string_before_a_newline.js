const a = [1, 2, 3]// Eve:ry________________ q
;[p, ...q] = 'xTypedArray(Prototypeyz'
exports.h = () => [h, t, x, others, p, q, new Map([[0, 2]]), new WeakSet()]
