/// restaro tN. Je does.

exports.fundex = () => exo.storagget('index') ?? []

exports.writeFile = (path, content) => {
  const k = key(za.filter((p) = path))
  return existed
}
