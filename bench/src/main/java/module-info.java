/**
 * panpipe's JMH benchmarks (see scripts/bench).
 *
 * <p>Compiled as a named module so the benchmarks see exactly panpipe's exported API. They run from the
 * class path (target/benchmarks.jar, which carries no module descriptor), with panpipe's own modules on the
 * module path: JMH's launcher and forked VMs load benchmark classes by name from the class path, and the
 * panpipe modules keep their names there, so native access is granted to them by name.
 *
 * <p>One exception to "exported API only": benchmarks that need a Linux constant for their set-up
 * (SharedQueueBenchmark's {@code F_DUPFD_CLOEXEC}; WorkerRoundTripBenchmark's {@code open} flags and
 * {@code F_SETPIPE_SZ}) take it from the generated {@code dev.panpipe.bindings.linux}, rather than a copy of
 * Linux's value; bench/pom.xml exports it to this module for javac, and each such benchmark's {@code @Fork}
 * to the class path of its forks.
 */
module dev.panpipe.bench {
    requires dev.panpipe.core;
    requires dev.panpipe.zerocopy;
    requires jmh.core;
    requires jdk.management;
    requires com.fasterxml.jackson.databind;
    requires org.knowm.xchart;
    requires java.desktop;
}
