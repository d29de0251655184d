// The front of a three-node application (examples/cluster/exo.json): it lives on node a, the
// counter on node b and the notes on node c. At boot it is handed capabilities to both; each
// add() asks the counter to add (a message to node b), the counter's answer comes back to
// added() (a message from node b), which keeps the total and writes it to the notes (a
// message to node c). Every step is an input logged by the node that takes it. Its AIR
// actor on each node (air_a, air_b, air_c) passes particles between them (hop.air).
exports.bind = (counter, notes) => {
  exo.storage.put('counter', counter)
  exo.storage.put('notes', notes)
  return true
}
// (Capabilities made for one message are dropped once sent: a capability table that grew with
// every call would be written back, whole, with every call.)
exports.add = (by = 1) => {
  const add = exo.derive(exo.storage.get('counter'), exo.rights.call | exo.rights.transfer, 'add')
  const back = exo.self('added', exo.rights.call | exo.rights.transfer)
  exo.send(add, [by], {budget: 100000, reply: back})
  exo.drop(add)
  exo.drop(back)
  return `asked node b to add ${by}`
}
exports.added = (total) => {
  exo.storage.put('total', total)
  const put = exo.derive(exo.storage.get('notes'), exo.rights.call, 'put')
  exo.send(put, ['total', total])
  exo.drop(put)
}
exports.total = () => exo.storage.get('total') ?? 0
// A message of the front's that failed, here or on another node: one that node b never
// confirmed taking within node a's bound (exo boot --expire-after) is errc unreachable.
exports.on_failure = (f) => {
  exo.storage.put('trouble', `${f.function}: ${f.message}`)
}
exports.trouble = () => exo.storage.get('trouble') ?? null
// The last stop of examples/cluster/hop.air, a particle that went from a to b to c and back:
// what it gathered on each node.
exports.seen = (total, count, motd) => {
  exo.storage.put('seen', {total, count, motd})
  return true
}
exports.hops = () => exo.storage.get('seen') ?? null
