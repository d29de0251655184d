// exo's JS metering, run by the js plugin in a realm of its own (plugins/js/engine.cpp): the
// actor's source in; out, the source with tick charges spliced in, why the script cannot
// have a warm realm ('' when it can). The script, every function body and every loop body
// starts by charging its own size (its syntax nodes, without the bodies of the functions and
// loops inside it, which charge for themselves), so that any code that runs long, in any way,
// charges as it goes. Found with the engine's own parser (Reflect.parse);
// the positions it gives are lines (from 1) and columns in code points, turned here into
// string indices.
(function meter(src, maxDepth) {
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
  // Where a node ends. SpiderMonkey's positions end a postfix `x++` (and every node it ends)
  // before its operator, so the end is looked for past the operand: spaces and comments, then
  // the two characters of `++` or `--`.
  const ends = new Map();
  function endIndex(node) {
    if (ends.has(node)) return ends.get(node);
    let e = node.loc ? index(node.loc.end) : 0;
    for (const c of children(node)) e = Math.max(e, endIndex(c));
    if (node.type === 'UpdateExpression' && !node.prefix) {
      let i = endIndex(node.argument);
      while (i < src.length && src[i] !== '+' && src[i] !== '-') i = src.startsWith('/*', i) ? skip(i) : i + 1;
      e = Math.max(e, i + 2);
    }
    ends.set(node, e);
    return e;
  }
  // What the splices open as a function: a charge and a frame of the call depth. A class's
  // static block runs as a function of its own, when the class is made.
  const functions = new Set(['FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression', 'StaticClassBlock']);
  const loops = new Set(['ForStatement', 'ForInStatement', 'ForOfStatement', 'WhileStatement', 'DoWhileStatement']);
  const forInOf = (node) => node.type === 'ForInStatement' || node.type === 'ForOfStatement';
  // A body's directive prologue: the statements that open it and are a string literal alone.
  function prologue(body) {
    const out = [];
    for (const st of body) {
      if (st.type !== 'ExpressionStatement' || st.expression.type !== 'Literal' || typeof st.expression.value !== 'string') break;
      out.push(st);
    }
    return out;
  }
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
  // A body's charge; `epoch` (a name) keeps what __exo_tick returns (the run of code this
  // call belongs to, see "Writes" below); `extra` is more to run first (a loop's write check).
  // An arrow function's expression body, with the parentheses around it (SpiderMonkey's
  // positions leave them out, and may start a parenthesized `(x) = 1` at x): from just after
  // `=>` to the arrow's own end.
  // Spaces and comments from i: also the HTML-like ones of scripts, `<!--` anywhere and `-->`
  // first on a line (after spaces, or comments on that line, only; a comment holding a line
  // break counts as one), which a splice put before it would make code (the script `-->x`
  // once broke, and `\f-->x`: found by fuzzing).
  const breaks = (c) => c === '\n' || c === '\r' || c === '\u2028' || c === '\u2029';
  const lineStart = (i) => {
    let j = i - 1;
    while (j >= 0 && !breaks(src[j]) && /\s/.test(src[j])) j--;
    return j < 0 || breaks(src[j]);
  };
  function skip(i) {
    let first = lineStart(i);
    for (;;) {
      if (src.startsWith('/*', i)) {
        const close = src.indexOf('*/', i + 2), end = close < 0 ? src.length : close + 2;  // (never back: a loop)
        for (let k = i; k < end; k++) if (breaks(src[k])) first = true;
        i = end;
      } else if (src.startsWith('//', i) || src.startsWith('<!--', i) || (first && src.startsWith('-->', i))) {
        while (i < src.length && !breaks(src[i])) i++;
      } else if (i < src.length && /\s/.test(src[i])) {
        if (breaks(src[i])) first = true;
        i++;
      } else {
        return i;
      }
    }
  }
  function arrowBody(fn) {
    let i = index(fn.loc.start);
    for (const p of [...fn.params, ...(fn.defaults || []), fn.rest]) if (p) i = Math.max(i, endIndex(p));
    for (;;) {  // to the arrow
      i = skip(i);
      if (src.startsWith('=>', i)) break;
      i++;
    }
    return [skip(i + 2), Math.max(index(fn.loc.end), endIndex(fn.body))];
  }
  // A charge of n ticks, inline (the JIT compiles it to a few integer instructions):
  // __exo_m[0] is the tick cell (an Int32Array's, engine.hpp); below zero, __exo_out() refills
  // it from the ticks the engine keeps in reserve, or, with none left, stops the code
  // uncatchably. A function whose variables inner functions write charges through __exo_tick
  // instead, which also returns the run of code it belongs to (see "Writes" below).
  const overdrawn = (n) => `(__exo_m[0]-=${n})<0`;
  const charged = (n) => `${overdrawn(n)}&&__exo_out()`;
  // A function's entry: its charge, then its call depth (see "Call depth" below). `v` says
  // whether the function needs the temporary __exo_v (its returns and awaits use it); `d`,
  // whether it keeps the depth it runs at in __exo_d (a function with a catch, a finally, an
  // await or a yield: what skips its decrements comes back through those); one without
  // counts down at its returns, which find the count where its entry left it.
  // Without an epoch the charge and the depth's check are one test: the cell less the cost,
  // or'ed with the depth left (maxDepth less the depth), is negative if either is (int32s:
  // the sign bit), and __exo_x() says which (or refills the cell and lets the code go on).
  // Fewer bytecodes keep small functions inlinable.
  const entry = (fn, v, d, cost) => {
    const kw = fn.generator || fn.async ? 'let' : 'const';
    const check = cost === undefined ? (x) => `${x}>${maxDepth}&&__exo_deep();` : (x) => `((__exo_m[0]-=${cost})|${maxDepth}-${x})<0&&__exo_x();`;
    return (d ? `${kw} __exo_d=++__exo_m[1];${check('__exo_d')}` : check('++__exo_m[1]')) + (v ? 'var __exo_v;' : '');
  };

  const back = (d) => (d ? '__exo_m[1]=__exo_d-1' : '__exo_m[1]--');
  // Where a loop's body really starts (its statement's position may start inside the
  // parentheses around an expression, as in `while (c) (x)()`): after `do`, or after the
  // parenthesis that closes the loop's head.
  function bodyStart(loop) {
    const at = index(loop.loc.start);
    if (loop.type === 'DoWhileStatement') return skip(at + 2);
    let i = skip(at + (loop.type === 'WhileStatement' ? 5 : 3));
    if (forAwait(loop)) i = skip(i + 5);
    let open = 0;
    for (i = past(i); ; i = past(i + 1)) {  // from the head's ( to its match
      if (src[i] === '(') open++;
      else if (src[i] === ')' && --open === 0) return skip(i + 1);
      if (i >= src.length) throw new Error('exo metering: a loop\'s head has no end');
    }
  }
  // An async function's throw does not reach its caller either, which goes on after the
  // rejected promise: its body runs in a try whose catch puts the caller's depth back (and
  // guards, as every catch does). Not when moving the body into a block would change what
  // it declares: a function declared at its top whose name is also a var of the function,
  // or declared twice (both errors in a block); such a body counts as before, and a throw
  // from it leaves its frame counted until the caller's next catch, finally, await or end.
  const tryOpen = 'try{';
  const tryClose = '}catch(__exo_e){__exo_c(__exo_e);__exo_m[1]=__exo_d-1;throw __exo_e}';
  function guardsThrows(fn) {
    if (!fn || !fn.async || fn.generator) return false;
    if (fn.body.type !== 'BlockStatement') return true;
    const declared = [];
    for (let s of fn.body.body) {
      while (s.type === 'LabeledStatement') s = s.body;
      if (s.type === 'FunctionDeclaration') declared.push(s.id.name);
    }
    if (!declared.length) return true;
    const vars = new Set();
    const stack = [...fn.body.body];
    while (stack.length) {
      const x = stack.pop();
      if (functions.has(x.type)) continue;
      if (x.type === 'VariableDeclaration' && x.kind === 'var') for (const d of x.declarations) patternNames(d.id, []).forEach((n) => vars.add(n));
      stack.push(...children(x));
    }
    return new Set(declared).size === declared.length && !declared.some((n) => vars.has(n));
  }
  function charge(body, depth, epoch, extra, fn, v, d, loop) {
    const cost = Math.max(1, size(body));
    const together = fn && !epoch;  // the charge goes in the entry's test
    const tick = epoch ? `const ${epoch}=__exo_tick(${cost});` : together ? '' : `${charged(cost)};`;
    extra = extra || '';
    const guard = guardsThrows(fn);
    const enter = (fn ? entry(fn, v, d, together ? cost : undefined) : '') + (guard ? tryOpen : '');
    if (body.type === 'BlockStatement') {
      // After the directive prologue ('use strict' must stay first to stay a directive).
      let at = index(body.loc.start) + 1;
      for (const st of prologue(body.body)) at = index(st.loc.end);
      const end = index(body.loc.end) - 1;
      const close = fn ? `;${back(d)};${guard ? tryClose : ''}` : '';  // falling off the end
      // An empty body's entry and end are at one index, where what closes would go first.
      if (at === end) edits.push([at, depth, false, `;${tick}${extra}${enter}${close}`]);
      else {
        edits.push([at, depth, false, `;${tick}${extra}${enter}`]);
        if (fn) edits.push([end, depth, true, close]);
      }
    } else if (body.type.endsWith('Statement') || body.type.endsWith('Declaration')) {
      const start = loop ? bodyStart(loop) : index(body.loc.start);
      edits.push([start, depth, false, `{${tick}${extra}`]);
      edits.push([trueEnd(start, endIndex(body)), depth, true, '}']);
    } else {  // an arrow function's expression body, made a block that returns it
      const [start, end] = arrowBody(fn);
      edits.push([start, depth, false, `{${tick}${extra}${entry(fn, true, d, together ? cost : undefined)}${guard ? tryOpen : ''}__exo_v=(`]);
      edits.push([end, depth, true, `);${back(d)};return __exo_v${guard ? tryClose : ''}}`]);
    }
  }

  // ---- Call depth ----
  // SpiderMonkey stops a deep recursion where its native stack runs out, and with the JIT on
  // that depth changes from run to run (5.9k to 14.6k frames, ../shared/notes). So the code
  // counts its own depth, __exo_m[1]: a function adds one when it starts (keeping the depth
  // it runs at in __exo_d) and puts it back at each return and at its end; past maxDepth,
  // __exo_deep() stops the code, uncatchably, with the whole budget spent (out of ticks: a
  // runaway recursion is a runaway). What skips those points puts the count right again:
  // a catch and a finally set it to their function's depth (a finally puts back, at its end,
  // what it found: a return's, or a throw's on its way out); an await or a yield sets it,
  // as the function suspends, to the depth its caller continues at, and when the function
  // resumes, takes the depth it now runs at (a promise job starts at 0; a generator's
  // resumer is where it was), and a catch or finally that a generator's throw or return
  // resumed into does the same; the generators' next, return and throw (wrapped in each
  // realm, engine.cpp) put back their caller's depth when they return. Code outside function
  // bodies (parameter lists, class fields, heritage, keys) counts too: see "Code outside
  // function bodies". The engine's own stack overflow, where it could still come first
  // (recursion inside a built-in the wrappers miss), is made uncatchable: the guard __exo_c(e)
  // opens every catch, and a try with a finally and no catch is given one that guards.
  const depthEdits = [];  // [node, fn, depth]: returns, catches, finallys, awaits, yields and for-await loops
  // Where an expression that starts (really) at `from` ends, given `e`, its end by positions:
  // past the parentheses around its operands that positions leave out. Strings, templates
  // and regexes are skipped whole (their spans are in `opaque`).
  const opaque = new Map();
  // The first index from i that is code: not a space, a comment, or inside one of those.
  function past(i) {
    for (;;) {
      i = skip(i);
      if (!opaque.has(i)) return i;
      i = opaque.get(i);
    }
  }
  // A `for await` loop (Reflect.parse does not say so: the source does).
  const forAwait = (node) => node.type === 'ForOfStatement' && src.startsWith('await', skip(index(node.loc.start) + 3));
  function trueEnd(from, e) {
    let open = 0;
    for (let i = past(from); i < e; i = past(i + 1)) {
      if (src[i] === '(') open++;
      else if (src[i] === ')') open--;
    }
    // (Never past spaces or comments that no `)` follows: a newline there may end the statement.)
    let end = e;
    for (let i = e; open > 0; open--) {
      i = skip(i);
      if (src[i] !== ')') break;
      end = ++i;
    }
    return end;
  }
  // A catch or finally sets the depth to its function's. In a generator, a catch or finally
  // that a generator's throw or return resumed into takes the depth its resumer runs at,
  // plus one: the wrapper of throw and return leaves that negated until it returns (no
  // function runs between it and the catch or finally).
  const resync = (fn) => (fn && fn.generator ? '__exo_m[1]<0?(__exo_d=__exo_m[1]=-__exo_m[1]):(__exo_m[1]=__exo_d);' : '__exo_m[1]=__exo_d;');
  function depthEdit(node, fn, depth, d) {
    switch (node.type) {
      case 'ReturnStatement': {
        const kw = index(node.loc.start);
        const end = endIndex(node);
        if (node.argument) {  // up to the `;`, if there is one
          edits.push([kw + 6, depth, false, '(__exo_v=(']);
          edits.push([src[end - 1] === ';' ? end - 1 : end, depth, true, `),${back(d)},__exo_v)`]);
        } else {  // a block around it, `;` and all, so that ASI after a bare `return` stays what it was
          edits.push([kw, depth, false, `{${back(d)};`]);
          edits.push([end, depth, true, '}']);
        }
        return;
      }
      case 'CatchClause': {
        const open = index(node.body.loc.start);
        const sync = resync(fn);
        if (!node.param) {
          edits.push([open, depth, false, '(__exo_e)']);
          edits.push([open + 1, depth, false, `__exo_c(__exo_e);${sync}`]);
        } else if (node.param.type === 'Identifier') {
          edits.push([open + 1, depth, false, `__exo_c(${node.param.name});${sync}`]);
        } else {  // catch (pattern) {...} -> catch (__exo_e) {guard; let pattern = __exo_e; ...}
          edits.push([index(node.param.loc.start), depth, false, `__exo_e){__exo_c(__exo_e);${sync}let `]);
          edits.push([endIndex(node.param), depth, true, '=__exo_e;', open + 1]);
        }
        return;
      }
      case 'TryStatement': {
        const f = node.finalizer;
        // try {...} finally {...}: a catch that only guards and throws again, so that no
        // finally (one that returns, say) swallows what no code may catch
        if (!node.handler) edits.push([endIndex(node.block), depth, true, 'catch(__exo_e){__exo_c(__exo_e);throw __exo_e}']);
        edits.push([index(f.loc.start) + 1, depth, false, `const __exo_f=__exo_m[1];${resync(fn)}`]);
        edits.push([index(f.loc.end) - 1, depth, true, ';__exo_m[1]=__exo_f;']);
        return;
      }
      case 'UnaryExpression':  // await x -> (v = await (v = (x), depth back, v), depth again, v)
      case 'YieldExpression': {  // the same; `yield` alone: (v = yield (depth back, undefined), depth again, v)
        const kw = index(node.loc.start), len = 5;  // `await` or `yield`
        edits.push([kw, depth, false, '(__exo_v=']);
        const resumed = ',__exo_d=++__exo_m[1],__exo_v)';
        if (node.type === 'YieldExpression' && !node.argument) {
          let after = resumed;
          // `yield` then a line that starts with ( [ ` + - or /: ASI ended the statement there
          const next = skip(kw + len);
          if (/[\n\r\u2028\u2029]/.test(src.slice(kw + len, next)) && /[(\[`+\-/]/.test(src[next] || '')) after += ';';
          edits.push([kw + len, depth, false, `(__exo_m[1]=__exo_d-1,void 0)${after}`]);
          return;
        }
        if (node.delegate) {  // yield* x: the generators it resumes put the depth back themselves
          const star = skip(kw + len);
          edits.push([trueEnd(skip(star + 1), endIndex(node)), depth, true, resumed]);
          return;
        }
        const from = skip(kw + len);
        const end = trueEnd(from, endIndex(node));
        edits.push([from, depth + 1, false, '(__exo_v=(']);
        edits.push([end, depth + 1, true, '),__exo_m[1]=__exo_d-1,__exo_v)']);
        edits.push([end, depth, true, resumed]);
        return;
      }
      case 'ForOfStatement': {  // for await (x of y): y's await is the loop's first
        let i = skip(endIndex(node.left));
        if (!src.startsWith('of', i)) throw new Error('exo metering: no `of` after a for-await loop\'s head');
        const from = skip(i + 2);
        edits.push([from, depth, false, '(__exo_v=(']);
        edits.push([trueEnd(from, endIndex(node.right)), depth, true, '),__exo_m[1]=__exo_d-1,__exo_v)']);
        return;
      }
    }
  }

  // ---- Code outside function bodies ----
  // A parameter list's defaults (at any level of its patterns) and computed keys run before
  // the function's body, so before its entry counts the depth; a class field's initializer,
  // a class's heritage and its computed keys run in no body of their own. A recursion through
  // them (`function f(a = f())`, `class A { x = new A() }`) would meet the engine's own stack
  // limit, which the JIT moves, and a promise's rejection handler could see that error. So
  // each is a frame of the depth: `__exo_l(++__exo_m[1]>maxDepth&&__exo_deep(), expr)`
  // counts up, runs the expression in place (its this, arguments, super and new.target are
  // the same), and counts down as it returns the value; a throw that skips the count down
  // lands where the count is set again (a catch, a finally, the end of a message or job).
  // An anonymous function or class as a default or a field's initializer is left as it is,
  // since it takes its name from there (`a = function () {}` is named a): making a function
  // runs nothing, and what a class runs as it is made (heritage, keys, static fields and
  // blocks) counts by itself.
  // In an async function's parameter list, a throw does not reach the caller, which goes on
  // (the function returns a rejected promise): there the expression runs in an arrow that
  // __exo_la calls, counting down on a throw too (an arrow there sees the same this,
  // arguments and super; await cannot appear in those parameters).
  const anonymous = (e) => e.type === 'ArrowFunctionExpression' || ((e.type === 'FunctionExpression' || e.type === 'ClassExpression') && !e.id);
  function counted(start, expr, depth, async) {
    edits.push([start, depth, false, `__exo_l${async ? 'a' : ''}(++__exo_m[1]>${maxDepth}&&__exo_deep(),${async ? '()=>' : ''}`]);
    edits.push([trueEnd(start, endIndex(expr)), depth, true, ')']);
  }
  // The start of what follows the `=` after index i (only spaces, comments and closing
  // brackets come between).
  function afterEq(i) {
    for (i = past(i); src[i] !== '='; i = past(i + 1))
      if (i >= src.length) throw new Error('exo metering: no `=` before a default value');
    return skip(i + 1);
  }
  function countedDefault(after, expr, depth, async) {
    if (!anonymous(expr)) counted(afterEq(after), expr, depth, async);
  }
  const countedKey = (key, depth, async) => counted(skip(index(key.loc.start) + 1), key.name, depth, async);  // inside `[...]`
  function countedPattern(p, depth, async) {
    if (!p) return;
    switch (p.type) {
      case 'ObjectPattern':
        for (const q of p.properties) {
          if (q.type !== 'Property') { countedPattern(q.expression || q.argument, depth + 1, async); continue; }
          if (q.key.type === 'ComputedName') countedKey(q.key, depth + 2, async);
          countedPattern(q.value, depth + 1, async);
        }
        return;
      case 'ArrayPattern': for (const e of p.elements) countedPattern(e, depth + 1, async); return;
      case 'SpreadExpression': countedPattern(p.expression, depth + 1, async); return;
      case 'AssignmentExpression':
        countedPattern(p.left, depth + 1, async);
        countedDefault(endIndex(p.left), p.right, depth + 1, async);
        return;
    }
  }
  function countedOutside(node, depth) {
    if (functions.has(node.type) && node.params) {
      const async = node.async && !node.generator;
      node.params.forEach((p, i) => {
        countedPattern(p, depth + 1, async);
        const d = node.defaults && node.defaults[i];
        if (d) countedDefault(endIndex(p), d, depth + 1, async);
      });
      countedPattern(node.rest, depth + 1, async);
    } else if (node.type === 'ClassStatement' || node.type === 'ClassExpression') {
      if (node.superClass) {
        let i = skip(index(node.loc.start) + 5);  // past `class` and its name, to `extends`
        if (node.id) i = skip(endIndex(node.id));
        if (!src.startsWith('extends', i)) throw new Error('exo metering: no `extends` before a class\'s heritage');
        counted(skip(i + 7), node.superClass, depth + 1);
      }
      for (const el of node.body) {
        if (el.name && el.name.type === 'ComputedName') countedKey(el.name, depth + 2);
        if (el.type === 'ClassField' && el.init) countedDefault(endIndex(el.name), el.init, depth + 2);
      }
    }
  }

  // ---- Spreads ----
  // A spread in an array, a call or an object (`[...x]`, `f(...x)`, `{...x}`) copies every
  // element of x inside the engine: `...x` becomes `...__exo_sp(x)`, which charges for them
  // (engine.cpp) and gives x back. A rest pattern in a declaration or an assignment
  // (`const [a, ...rest] = x`) copies what x has left: there the value, x, becomes
  // `__exo_sp(x)`. Any other rest that binds a name (in a parameter, `(...r)`, `([a, ...r])`;
  // a nested pattern, `const {a: [...r], ...o} = x`; a loop's head, `for (const [k, ...v] of
  // e)`) is charged once made: `__exo_sp(r)` in the function's or the loop body's prologue,
  // or in a declarator added after the declaration's (`, __exo_r0 = __exo_sp(r)`), or, in an
  // assignment's nested pattern, after the assignment (`__exo_k(assignment, __exo_sp(r))`).
  // A rest into a property (`[a, [...o.p]] = x`, `for ([k, ...o.v] of e)`: reading it again
  // after could run a getter) is charged as it is set: the target becomes
  // `__exo_ps((__exo_x)=>(o.p=__exo_x)).v`, whose setter charges for the value and sets it
  // through the arrow, in the script's own scope and strictness (`this`, `super`, private
  // names too). The property's object and key are then evaluated when it is set, after
  // the copy, not before it; a target with an `await` or a `yield` in it is left as it
  // was (an arrow cannot hold them): it copies for a tick, left to the watchdog's floor.
  const spreadsIn = {ArrayExpression: 'elements', CallExpression: 'arguments', NewExpression: 'arguments',
                     OptionalCallExpression: 'arguments', ObjectExpression: 'properties'};
  const rests = (p) => p && p.type === 'ArrayPattern' && p.elements.some((e) => e && e.type === 'SpreadExpression');
  // Each rest in p, at any depth: visit(rest, target), the target a name, a property or a
  // pattern; `outer`: not p's own array rest (an array pattern whose value is charged whole).
  function eachRest(p, visit, outer = false) {
    if (!p) return;
    const leaf = (t) => t && (t.type === 'Identifier' || t.type === 'MemberExpression');
    switch (p.type) {
      case 'ArrayPattern':
        for (const e of p.elements) {
          if (e && e.type === 'SpreadExpression') {
            if (!outer) visit(e, e.expression);
            if (!leaf(e.expression)) eachRest(e.expression, visit);
          } else eachRest(e, visit);
        }
        break;
      case 'ObjectPattern':
        for (const q of p.properties) {
          if (q.type === 'Property') { eachRest(q.value, visit); continue; }
          const t = q.expression || q.argument;
          if (leaf(t)) visit(q, t);
          else eachRest(t, visit);
        }
        break;
      case 'AssignmentExpression': eachRest(p.left, visit); break;
      case 'SpreadExpression': eachRest(p.expression, visit); break;
    }
  }
  // A rest whose target is a pattern (`(...[a, b])`, `const {p: [a, ...[b]]} = x`) makes an
  // array that no name holds: what is left of it after the pattern's own elements is given
  // one, by a rest added at the pattern's end: a name where the pattern binds (`...__exo_r0`,
  // then charged as any name a rest binds), a property that charges as it is set where it
  // assigns (`...__exo_ps((__exo_x)=>0).v`). A pattern that ends with a rest already has its
  // copy charged there. `binding`: whether t binds; the name added, if any.
  const unnamedDone = new Map();
  function unnamed(t, binding) {
    if (unnamedDone.has(t)) return unnamedDone.get(t);
    let name = null;
    const list = t.type === 'ArrayPattern' ? t.elements : t.properties;
    const last = list.length ? list[list.length - 1] : null;
    if (!(last && last.type === 'SpreadExpression')) {
      const [opening, closing] = t.type === 'ArrayPattern' ? '[]' : '{}';
      const open = index(t.loc.start), close = endIndex(t) - 1;
      if (src[open] !== opening || src[close] !== closing) throw new Error('exo metering: a pattern is not within its brackets');
      let lastCode = opening;  // (a comma or the opening bracket: the rest follows it as it is)
      for (let i = past(open + 1); i < close; i = past(i + 1)) lastCode = src[i];
      if (binding) name = `__exo_r${restDeclarators++}`;
      edits.push([close, -1, true, `${lastCode === ',' || lastCode === opening ? '' : ','}...${name || '__exo_ps((__exo_x)=>0).v'}`]);
    }
    unnamedDone.set(t, name);
    return name;
  }
  // The names p's rests bind (those added to unnamed ones too, when p binds), and the rests
  // in p whose target is a property.
  function restNames(p, out = [], outer = false, binding = true) {
    eachRest(p, (r, t) => {
      if (t.type === 'Identifier') out.push(t.name);
      else if (t.type === 'ArrayPattern' || t.type === 'ObjectPattern') {
        const name = unnamed(t, binding);
        if (name) out.push(name);
      }
    }, outer);
    return out;
  }
  function memberRests(p, out = [], outer = false) {
    eachRest(p, (r, t) => { if (t.type === 'MemberExpression') out.push(r) }, outer);
    return out;
  }
  // Whether an await or a yield of the function around `node` is in it.
  function suspendsIn(node) {
    for (const pending = [node]; pending.length;) {
      const n = pending.pop();
      if (n.type === 'YieldExpression' || (n.type === 'UnaryExpression' && n.operator === 'await')) return true;
      if (!functions.has(n.type)) pending.push(...children(n));
    }
    return false;
  }
  const restCharges = (names) => names.map((n) => `__exo_sp(${n});`).join('');
  const restChargeList = (names) => names.map((n) => `__exo_sp(${n})`).join(',');  // (an expression's)
  function paramRests(fn) {
    const out = [];
    for (const p of fn.params || []) restNames(p, out);
    if (fn.rest) {
      if (fn.rest.type === 'Identifier') out.push(fn.rest.name);
      else {
        restNames(fn.rest, out);
        const name = unnamed(fn.rest, true);  // (the rest parameter's own array)
        if (name) out.push(name);
      }
    }
    return out;
  }
  const loopHeads = new Set();  // declarators of for-in and for-of heads (their loop body charges)
  let restDeclarators = 0;
  function spreads(node, depth) {
    const [pattern, value] = node.type === 'VariableDeclarator' ? [node.id, node.init]
      : node.type === 'AssignmentExpression' && node.operator === '=' ? [node.left, node.right] : [];
    // (At the depth of the node that holds what is wrapped, so that the wrap is outside
    // whatever that ends with at the same place: `= exports.h = () => x` ends with the
    // arrow's body.)
    const start = value ? afterEq(endIndex(pattern)) : 0;
    if (value && rests(pattern)) {
      edits.push([start, depth, false, '__exo_sp(']);
      edits.push([trueEnd(start, endIndex(value)), depth, true, ')']);
    }
    if (forInOf(node) && node.left.type === 'VariableDeclaration')
      for (const d of node.left.declarations) loopHeads.add(d);
    // Rests into a property: in an assignment's pattern (not its own array rest, charged with
    // the value), in a loop head's that is no declaration (all of them).
    const headPattern = forInOf(node) && node.left.type !== 'VariableDeclaration';
    if ((value && node.type === 'AssignmentExpression') || headPattern) {
      for (const r of memberRests(headPattern ? node.left : pattern, [], !headPattern)) {
        const target = r.expression || r.argument;
        if (suspendsIn(target)) continue;
        const dots = index(r.loc.start);
        if (!src.startsWith('...', dots)) throw new Error('exo metering: a rest does not start with `...`');
        const start = past(dots + 3);
        edits.push([start, depth + 1, false, '__exo_ps((__exo_x)=>(']);
        edits.push([trueEnd(start, endIndex(target)), depth + 1, true, '=__exo_x)).v']);
      }
    }
    // An assignment's nested rests and object rests (`({a: [...r]} = x)`, `({k, ...o} = x)`):
    // the assignment becomes `__exo_k(assignment, __exo_sp(r), ...)`, whose value is the
    // assignment's (engine.cpp's prelude), so each rest is charged once made. (Outside what
    // the assignment ends with at the same place, and inside what holds it.)
    if (value && node.type === 'AssignmentExpression') {
      const names = restNames(pattern, [], true, false);
      if (names.length) {
        const from = index(node.loc.start);
        edits.push([from, depth - 0.5, false, '__exo_k(']);
        edits.push([trueEnd(from, endIndex(node)), depth - 0.5, true, `,${restChargeList(names)})`]);
      }
    }
    if (value && node.type === 'VariableDeclarator' && !loopHeads.has(node)) {
      const names = restNames(pattern, [], true);
      if (names.length)
        edits.push([trueEnd(start, endIndex(value)), depth, true,
                    `,__exo_r${restDeclarators++}=(${restChargeList(names)})`]);
    }
    // `f.apply(t, x)` copies x's elements into arguments: x becomes `__exo_ap(x)`, which
    // charges for them (not `f.apply(t, arguments)`, the function's own, which its caller
    // paid for: that form the JIT runs without copying). Any method named apply is charged
    // so; `Reflect.apply` is a walker.
    if ((node.type === 'CallExpression' || node.type === 'OptionalCallExpression') && node.arguments.length >= 2 &&
        (node.callee.type === 'MemberExpression' || node.callee.type === 'OptionalMemberExpression') && !node.callee.computed &&
        node.callee.property.type === 'Identifier' && node.callee.property.name === 'apply') {
      const x = node.arguments[1];
      if (x.type !== 'SpreadExpression' && !(x.type === 'Identifier' && x.name === 'arguments') && node.arguments[0].type !== 'SpreadExpression') {
        // (From the comma: the argument's position may be inside parentheses around it.)
        let at = past(endIndex(node.arguments[0]));
        while (at < src.length && src[at] !== ',') at = past(at + 1);
        at = skip(at + 1);
        edits.push([at, depth + 1, false, '__exo_ap(']);
        edits.push([trueEnd(at, endIndex(x)), depth + 1, true, ')']);
      }
    }
    const list = spreadsIn[node.type] && node[spreadsIn[node.type]];
    if (!list) return;
    for (const e of list) {
      if (!e || e.type !== 'SpreadExpression') continue;
      const dots = index(e.loc.start);
      if (!src.startsWith('...', dots)) throw new Error('exo metering: a spread does not start with `...`');
      edits.push([dots + 3, depth + 1, false, '__exo_sp(']);
      edits.push([trueEnd(dots + 3, endIndex(e.expression)), depth + 1, true, ')']);
    }
  }

  // ---- Writes to bindings of other functions ----
  // A warm instance (plugins/js/plugin.cpp) keeps an actor's realm from one message to the
  // next: what the script made while loading is frozen, and a function that writes a
  // variable it does not own (of an enclosing function) checks, when it is called,
  // `__exo_w(epoch)`: that marks the instance spent when the variable's environment was made
  // by another run of code (the load, or an earlier message) than the one now running. (So
  // a call that does not get to the write spends it too: that costs only a new realm.) Each
  // function owning such a variable keeps its epoch in a const, from __exo_tick. A function
  // writing a top-level variable keeps the script from having a warm instance at all.
  let cold = '';  // why the script cannot have a warm instance ('' if it can)
  const notWarm = (why) => { if (!cold) cold = why; };
  const scope = (parent, fn) => ({names: new Set(), fn, parent});
  function patternNames(p, out) {
    if (!p) return out;
    switch (p.type) {
      case 'Identifier': out.push(p.name); break;
      case 'ArrayPattern': for (const e of p.elements) patternNames(e, out); break;
      case 'ObjectPattern': for (const q of p.properties) patternNames(q.type === 'Property' ? q.value : q, out); break;
      case 'AssignmentExpression': patternNames(p.left, out); break;
      case 'SpreadExpression': patternNames(p.expression, out); break;
    }
    return out;
  }
  const writes = [];  // {node, depth, scope, fn, names, loop}
  const inParams = new Set();  // writes inside a function's parameter list
  function declareVar(decl, block, fnScope) {
    for (const d of decl.declarations) for (const n of patternNames(d.id, [])) (decl.kind === 'var' ? fnScope : block).names.add(n);
  }
  // A binding pattern's default values and computed keys (its names are not writes here).
  function visitPattern(p, sc, fnScope, depth) {
    if (!p) return;
    switch (p.type) {
      case 'Identifier': return;
      case 'ArrayPattern': for (const e of p.elements) visitPattern(e, sc, fnScope, depth + 1); return;
      case 'ObjectPattern':
        for (const q of p.properties) {
          if (q.type !== 'Property') visitPattern(q, sc, fnScope, depth + 1);
          else {
            if (q.key.type === 'ComputedName') visit(q.key, sc, fnScope, depth + 2);
            visitPattern(q.value, sc, fnScope, depth + 2);
          }
        }
        return;
      case 'AssignmentExpression': visitPattern(p.left, sc, fnScope, depth + 1); visit(p.right, sc, fnScope, depth + 1); return;
      case 'SpreadExpression': visitPattern(p.expression, sc, fnScope, depth + 1); return;
      default: visit(p, sc, fnScope, depth);
    }
  }
  // Hoists declarations into scopes and records writes; `fn` is the function the code runs in
  // (null at the top level).
  function visit(node, sc, fnScope, depth, method) {
    if (!node || typeof node.type !== 'string') return;
    if (node.type === 'Identifier' && node.name.startsWith('#')) notWarm('it uses private names (#x), which stay writable on frozen objects');
    switch (node.type) {
      case 'FunctionDeclaration':
      case 'FunctionExpression':
      case 'ArrowFunctionExpression': {
        if (node.type === 'FunctionDeclaration' && node.id) {
          sc.names.add(node.id.name);
          fnScope.names.add(node.id.name);
        }
        const f = scope(sc, node);
        if (node.type === 'FunctionExpression' && node.id && !method) f.names.add(node.id.name);
        if (node.type !== 'ArrowFunctionExpression') f.names.add('arguments');
        for (const p of node.params) patternNames(p, []).forEach((n) => f.names.add(n));
        if (node.rest) patternNames(node.rest, []).forEach((n) => f.names.add(n));
        const before = writes.length;
        for (const p of node.params) visitPattern(p, f, f, depth + 1);
        for (const d of node.defaults || []) visit(d, f, f, depth + 1);
        if (node.rest) visitPattern(node.rest, f, f, depth + 1);
        for (let i = before; i < writes.length; i++) inParams.add(writes[i]);
        if (node.body.type === 'BlockStatement') for (const s of node.body.body) visit(s, f, f, depth + 2);
        else visit(node.body, f, f, depth + 1);
        return;
      }
      case 'ClassStatement':
      case 'ClassExpression': {
        if (node.type === 'ClassStatement' && node.id) sc.names.add(node.id.name);
        const c = scope(sc, sc.fn);
        if (node.type === 'ClassExpression' && node.id) c.names.add(node.id.name);
        visit(node.superClass, sc, fnScope, depth + 1);
        for (const el of node.body) {
          if (el.name && el.name.type === 'Identifier' && el.name.name.startsWith('#'))
            notWarm('it uses private names (#x), which stay writable on frozen objects');
          if (el.type === 'ClassMethod') {
            if (el.name.type !== 'Identifier') visit(el.name, c, fnScope, depth + 2);
            visit(el.body, c, fnScope, depth + 2, true);
          } else if (el.type === 'ClassField') {
            if (el.name.type !== 'Identifier') visit(el.name, c, fnScope, depth + 2);
            const f = scope(c, el);  // an initializer runs as a function of its own, at each `new`
            visit(el.init, f, f, depth + 2);
          } else if (el.type === 'StaticClassBlock') {
            const f = scope(c, el);
            for (const s of el.body.body) visit(s, f, f, depth + 3);
          } else {
            visit(el, c, fnScope, depth + 1);
          }
        }
        return;
      }
      case 'Property':
        visit(node.key, sc, fnScope, depth + 1);
        visit(node.value, sc, fnScope, depth + 1, node.method || node.kind === 'get' || node.kind === 'set');
        return;
      case 'VariableDeclaration':
        declareVar(node, sc, fnScope);
        for (const d of node.declarations) {
          visitPattern(d.id, sc, fnScope, depth + 2);
          visit(d.init, sc, fnScope, depth + 2);
        }
        return;
      case 'BlockStatement': {
        const b = scope(sc, sc.fn);
        for (const s of node.body) visit(s, b, fnScope, depth + 1);
        return;
      }
      case 'ForStatement':
      case 'ForInStatement':
      case 'ForOfStatement': {
        const head = node.type === 'ForStatement' ? node.init : node.left;
        const l = scope(sc, sc.fn);
        if (head && head.type === 'VariableDeclaration') declareVar(head, l, fnScope);
        else if (head && node.type !== 'ForStatement') writes.push({node, depth, scope: l, fn: sc.fn, names: patternNames(head, [])});
        for (const c of children(node)) {
          if (c === head && node.type !== 'ForStatement' && head.type !== 'VariableDeclaration') visitPattern(c, l, fnScope, depth + 1);
          else visit(c, l, fnScope, depth + 1);
        }
        return;
      }
      case 'CatchClause': {
        const c = scope(sc, sc.fn);
        patternNames(node.param, []).forEach((n) => c.names.add(n));
        visitPattern(node.param, c, fnScope, depth + 1);
        visit(node.body, c, fnScope, depth + 1);
        return;
      }
      case 'SwitchStatement': {
        visit(node.discriminant, sc, fnScope, depth + 1);
        const s = scope(sc, sc.fn);
        for (const c of node.cases) visit(c, s, fnScope, depth + 1);
        return;
      }
      case 'WithStatement':
        notWarm('it uses `with`');
        break;
      case 'AssignmentExpression':
        writes.push({node, depth, scope: sc, fn: sc.fn, names: patternNames(node.left, [])});
        visitPattern(node.left, sc, fnScope, depth + 1);
        visit(node.right, sc, fnScope, depth + 1);
        return;
      case 'UpdateExpression':
        writes.push({node, depth, scope: sc, fn: sc.fn, names: patternNames(node.argument, [])});
        break;
    }
    for (const c of children(node)) visit(c, sc, fnScope, depth + 1);
  }
  const top = scope(null, null);
  for (const s of ast.body) visit(s, top, top, 1);
  const epochs = new Map();  // function owning a written variable -> its epoch const's name
  const epochOf = (fn) => {
    if (!epochs.has(fn)) epochs.set(fn, `__exo_e${epochs.size}`);
    return epochs.get(fn);
  };
  const checks = new Map();  // function -> the epochs it checks when called
  for (const w of writes) {
    if (w.fn === null) continue;  // the top level runs only while the script loads
    for (const name of w.names) {
      let s = w.scope;
      while (s && !s.names.has(name)) s = s.parent;
      const owner = s ? s.fn : null;
      if (owner === w.fn) continue;
      if (owner !== null && inParams.has(w)) notWarm('a closure in a parameter list writes a variable of its function');
      // (A function writing a top-level variable would spend a warm realm in every message.)
      if (owner === null) {
        notWarm(`a function writes the top-level variable ${name}`);
        continue;
      }
      if (w.fn.type === 'ClassField') notWarm('a class field\'s initializer writes a variable of a function');
      if (!checks.has(w.fn)) checks.set(w.fn, new Set());
      checks.get(w.fn).add(epochOf(owner));
    }
  }
  const checksOf = (fn) => (checks.has(fn) ? [...checks.get(fn)].map((e) => `__exo_w(${e});`).join('') : '');

  // The script's top level, which runs again in every message, charges its own size first.
  {
    // (Past the comments that open the script: a `-->` there must stay first on its line.)
    let at = src.startsWith('#!') ? src.search(/[\n\r\u2028\u2029]|$/) : skip(0);
    for (const st of prologue(ast.body)) at = index(st.loc.end);
    edits.push([at, 0, false, `;${charged(Math.max(1, size(ast)))};`]);
  }
  // Every node with the function it runs in (null: the top level, where only catch and
  // finally need the depth, which is 0 there: engine.cpp's realm prelude defines __exo_d).
  const needsV = new Set();
  // The spans of strings, templates and regexes first, all of them: the pass below finds
  // where expressions end (trueEnd) at a node before it reaches the literals inside it, and
  // a `(` in a string there once counted as code (`class A { x = '(' <newline> y = 1 }`, found
  // by fuzzing).
  for (const pending = [ast]; pending.length;) {
    const node = pending.pop();
    if (node.type === 'Literal' && (typeof node.value === 'string' || node.value instanceof RegExp)) opaque.set(index(node.loc.start), endIndex(node));
    if (node.type === 'TemplateLiteral') opaque.set(index(node.loc.start), endIndex(node));
    pending.push(...children(node));
  }
  const stack = [[ast, 0, null]];
  const bodies = [], loopNodes = [];
  while (stack.length) {
    const [node, depth, fn] = stack.pop();
    countedOutside(node, depth);
    spreads(node, depth);
    if (functions.has(node.type)) bodies.push([node, depth]);
    else if (loops.has(node.type)) loopNodes.push([node, depth]);
    const suspends = (node.type === 'UnaryExpression' && node.operator === 'await') || node.type === 'YieldExpression' || forAwait(node);
    if (suspends || (node.type === 'ReturnStatement' && node.argument)) needsV.add(fn);  // they use __exo_v
    if (suspends || ['ReturnStatement', 'CatchClause'].includes(node.type) || (node.type === 'TryStatement' && node.finalizer))
      depthEdits.push([node, fn, depth]);
    const inner = functions.has(node.type) ? node : fn;
    for (const c of children(node)) stack.push([c, depth + 1, inner]);
  }
  const needsD = new Set(depthEdits.filter(([node]) => node.type !== 'ReturnStatement').map(([, fn]) => fn));
  const keepsD = (fn) => fn !== null && (needsD.has(fn) || fn.generator || fn.async);
  for (const [node, depth] of loopNodes) {
    // A rest in a for-in or for-of head: its body, in a block of its own (the body may
    // declare the name again), is led by the rest's charge.
    const head = forInOf(node) ? node.left : null;
    const names = head ? (head.type === 'VariableDeclaration' ? head.declarations.flatMap((d) => restNames(d.id)) : restNames(head, [], false, false)) : [];
    if (names.length) {
      const start = bodyStart(node);
      edits.push([start, depth, false, `{${restCharges(names)}`]);
      edits.push([trueEnd(start, endIndex(node.body)), depth, true, '}']);
    }
    charge(node.body, depth, undefined, undefined, undefined, false, false, node);
  }
  for (const [node, depth] of bodies)
    charge(node.body, depth, epochs.get(node), checksOf(node) + restCharges(paramRests(node)), node, needsV.has(node), keepsD(node));
  for (const [node, fn, depth] of depthEdits) depthEdit(node, fn, depth, keepsD(fn));
  // At one index: what closes comes before what opens, the innermost closing first and the
  // outermost opening first.
  edits.sort((a, b) => a[0] - b[0] || (a[2] === b[2] ? (a[2] ? b[1] - a[1] : a[1] - b[1]) : a[2] ? -1 : 1));
  let out = '';
  let at = 0;
  for (const [i, , , text, to] of edits) {  // `to`: the splice replaces the source up to there
    out += src.slice(at, i) + text;
    at = to === undefined ? i : to;
  }
  return [out + src.slice(at), cold];
})
