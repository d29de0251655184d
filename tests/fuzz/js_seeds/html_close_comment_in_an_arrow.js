-->x
exports.f = () =>
-->c
 1
