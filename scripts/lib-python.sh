# Sourced by scripts/test and scripts/bench: Debian's /usr/bin/python3 (not whatever python3 is first on
# PATH) with what panpipe's Python parts need: OpenCV (the image tests' oracle), numpy (the Python ring
# peer in samples/python and the multiprocessing baseline of scripts/bench) and libatomic (the peer's
# atomics). Installed with apt-get when missing and we can (root); otherwise the caller is told, and what
# needs them skips itself (tests) or reads "not measured" (benchmarks).
panpipe_python_deps() {
  local who=$1   # what goes without them, for the message
  /usr/bin/python3 -c 'import cv2, numpy, ctypes; ctypes.CDLL("libatomic.so.1")' 2>/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "panpipe: installing python3-opencv, python3-numpy and libatomic1 for /usr/bin/python3 ($who)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-opencv python3-numpy libatomic1; } >/dev/null 2>&1 \
      && return 0
    echo "panpipe: could not install python3-opencv, python3-numpy and libatomic1; $who will go without them" >&2
  else
    echo "panpipe: /usr/bin/python3 lacks cv2, numpy or libatomic (apt-get install python3-opencv python3-numpy libatomic1); $who will go without them" >&2
  fi
  return 0
}
