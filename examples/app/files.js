// files: a LibVMS-style backend (a script that assigns functions to `exports`), run by exo's
// js container. LibVMS's own example function, and a files-like key/value API kept in the
// actor's storage: what one call writes, the next call reads, and so does the node after a
// restart. No JS variable survives a call; storage does. And LibVMS's System.caller.id:
// whoami() is the key that signed the call (hex), or null for an anonymous call.

exports.func1 = (x = 0) => x + 1

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
exports.whoami = () => {
  const key = exo.caller()
  return key === null ? null : hex(key)
}

const key = (path) => {
  if (typeof path !== 'string' || path === '') throw new TypeError('a path is a non-empty string')
  return 'file:' + path
}
const index = () => exo.storage.get('index') ?? []

exports.writeFile = (path, content) => {
  const k = key(path)
  const paths = index()
  if (!paths.includes(path)) {
    paths.push(path)
    paths.sort()
    exo.storage.put('index', paths)
  }
  exo.storage.put(k, content)
  return paths.length
}

exports.readFile = (path) => {
  const content = exo.storage.get(key(path))
  if (content === undefined) throw new Error(`no such file: ${path}`)
  return content
}

exports.listFiles = () => index()

exports.deleteFile = (path) => {
  const existed = exo.storage.delete(key(path))
  if (existed) exo.storage.put('index', index().filter((p) => p !== path))
  return existed
}
