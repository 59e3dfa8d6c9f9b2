# Sourced after lib-jdk.sh: runs Maven quietly on the JDK found there.
command -v mvn >/dev/null || { echo "panpipe: Maven (mvn) is not installed: apt-get install maven" >&2; exit 1; }

panpipe_mvn() {
  local feature
  feature=$(panpipe_jdk_feature "$JAVA_HOME")
  # Maven 3.8's Guice and Guava use sun.misc.Unsafe; JDK 24+ warns about it on every run.
  if [ "$feature" -ge 24 ]; then
    export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
  fi
  mvn -B -ntp -e "$@"
}
