exports.f = () => {
  let s = "😀"; for (;;) return s
}
