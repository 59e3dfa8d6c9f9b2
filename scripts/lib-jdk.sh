# Sourced by the scripts in this folder: finds a JDK >= 22 and exports JAVA_HOME.
# Order: $JAVA_HOME if it is new enough, then the newest of /usr/lib/jvm/*.
# Fails with a message that says what is missing and how to fix it.

panpipe_jdk_feature() {   # prints the feature version (22, 25, ...) of the JDK at $1, or nothing
  local release="$1/release" v
  [ -x "$1/bin/javac" ] || return 1
  if [ -f "$release" ]; then
    v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$release")
  else
    v=$("$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/.*java\.specification\.version = \([0-9]*\).*/\1/p')
  fi
  [ -n "$v" ] && echo "$v"
}

panpipe_find_jdk() {
  local min=22 best="" bestv=0 d v
  if [ -n "${JAVA_HOME:-}" ]; then
    v=$(panpipe_jdk_feature "$JAVA_HOME" || true)
    if [ -n "$v" ] && [ "$v" -ge "$min" ]; then export JAVA_HOME; return 0; fi
  fi
  for d in /usr/lib/jvm/*; do
    [ -d "$d" ] && [ ! -L "$d" ] || continue
    v=$(panpipe_jdk_feature "$d" || true)
    if [ -n "$v" ] && [ "$v" -ge "$min" ] && [ "$v" -gt "$bestv" ]; then best=$d; bestv=$v; fi
  done
  if [ -z "$best" ]; then
    echo "panpipe: no JDK >= $min found (JAVA_HOME=${JAVA_HOME:-unset}; looked in /usr/lib/jvm/*)." >&2
    echo "panpipe: install one (for example Temurin 25) under /usr/lib/jvm or point JAVA_HOME at it." >&2
    return 1
  fi
  export JAVA_HOME=$best
}

panpipe_find_jdk || exit 1
export PATH="$JAVA_HOME/bin:$PATH"
