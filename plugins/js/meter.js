// exo's JS metering, run by the js plugin in a realm of its own (plugins/js/engine.cpp): the
// actor's source in, the source with tick charges spliced in out. The script, every function
// body and every loop body starts by charging its own size (its syntax nodes, without the bodies of
// the functions and loops inside it, which charge for themselves), so that any code that runs
// long, in any way, charges as it goes. Found with the engine's own parser (Reflect.parse);
// the positions it gives are lines (from 1) and columns in code points, turned here into
// string indices.
(function meter(src) {
  'use strict';
  const ast = Reflect.parse(src, {loc: true});
  // Where each line starts: \n, \r\n, \r, U+2028 and U+2029 break lines.
  const starts = [0];
  for (let i = 0; i < src.length; i++) {
    const c = src.charCodeAt(i);
    if (c === 10 || c === 0x2028 || c === 0x2029) starts.push(i + 1);
    else if (c === 13) {
      if (src.charCodeAt(i + 1) === 10) i++;
      starts.push(i + 1);
    }
  }
  function index(pos) {
    let i = starts[pos.line - 1];
    for (let k = 0; k < pos.column; k++) {
      const c = src.charCodeAt(i);
      i += c >= 0xd800 && c <= 0xdbff ? 2 : 1;
    }
    return i;
  }
  const functions = new Set(['FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression']);
  const loops = new Set(['ForStatement', 'ForInStatement', 'ForOfStatement', 'WhileStatement', 'DoWhileStatement']);
  function children(node) {
    const out = [];
    for (const key of Object.keys(node)) {
      if (key === 'loc' || key === 'type') continue;
      const v = node[key];
      if (Array.isArray(v)) {
        for (const e of v) if (e && typeof e === 'object' && typeof e.type === 'string') out.push(e);
      } else if (v && typeof v === 'object' && typeof v.type === 'string') {
        out.push(v);
      }
    }
    return out;
  }
  // The nodes of a body that run each time it does: not those of the functions and loop
  // bodies inside it.
  function size(node) {
    let n = 0;
    const stack = [node];
    while (stack.length) {
      const x = stack.pop();
      n++;
      if (x !== node && functions.has(x.type)) continue;
      for (const c of children(x)) if (!(loops.has(x.type) && c === x.body)) stack.push(c);
    }
    return n;
  }
  const edits = [];  // [index, depth, at end?, text]
  function charge(body, depth) {
    const cost = Math.max(1, size(body));
    if (body.type === 'BlockStatement') {
      // After the directive prologue ('use strict' must stay first to stay a directive).
      let at = index(body.loc.start) + 1;
      for (const s of body.body) {
        if (s.type !== 'ExpressionStatement' || s.expression.type !== 'Literal' || typeof s.expression.value !== 'string') break;
        at = index(s.loc.end);
      }
      edits.push([at, depth, false, `;__exo_tick(${cost});`]);
    } else if (body.type.endsWith('Statement') || body.type.endsWith('Declaration')) {
      edits.push([index(body.loc.start), depth, false, `{__exo_tick(${cost});`]);
      edits.push([index(body.loc.end), depth, true, '}']);
    } else {  // an arrow function's expression body
      edits.push([index(body.loc.start), depth, false, `(__exo_tick(${cost}),`]);
      edits.push([index(body.loc.end), depth, true, ')']);
    }
  }
  // The script's top level, which runs again in every message, charges its own size first.
  {
    let at = src.startsWith('#!') ? src.search(/[\n\r\u2028\u2029]|$/) : 0;
    for (const s of ast.body) {
      if (s.type !== 'ExpressionStatement' || s.expression.type !== 'Literal' || typeof s.expression.value !== 'string') break;
      at = index(s.loc.end);
    }
    edits.push([at, 0, false, `;__exo_tick(${Math.max(1, size(ast))});`]);
  }
  const stack = [[ast, 0]];
  while (stack.length) {
    const [node, depth] = stack.pop();
    if (functions.has(node.type) || loops.has(node.type)) charge(node.body, depth);
    for (const c of children(node)) stack.push([c, depth + 1]);
  }
  // At one index: what closes comes before what opens, the innermost closing first and the
  // outermost opening first.
  edits.sort((a, b) => a[0] - b[0] || (a[2] === b[2] ? (a[2] ? b[1] - a[1] : a[1] - b[1]) : a[2] ? -1 : 1));
  let out = '';
  let at = 0;
  for (const [i, , , text] of edits) {
    out += src.slice(at, i) + text;
    at = i;
  }
  return out + src.slice(at);
})
