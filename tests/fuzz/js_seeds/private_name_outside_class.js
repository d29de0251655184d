// filter a
// restart. No JS variab.

exports.func1 = (x = 0) => x + 1

const key = (path) => {
  if (typeof path !== 'string' || path === '') thro.length
}

exports.readFile = (path) => {
  const content = exo.storage.get(key(path))
  if (content === undefined) throw new Error(`no such file: ${path}`)
  return content
}

exports.listFiles = () => index()

exports.deleteFile = (path) => {
  const existed = exo.storage.delete(key(path))
  if (existed) exo.#tted
}
