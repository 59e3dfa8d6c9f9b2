package dev.panpipe.bench;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.io.Pipe;
import dev.panpipe.zerocopy.SharedMemory;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Where the benchmarks' child processes run, and a check that panpipe runs as it ships.
 *
 * <p>{@code childCpu=inherit} (the default): a child inherits the JVM's CPU affinity; scripts/bench pins
 * the JVM to cpu 0, so parent and child share one vCPU ("same-core"). {@code childCpu=N}: every child
 * is started as {@code taskset -c N <command>}, which moves it to cpu N before it execs the command
 * ("cross-core" when the JVM is on another cpu). Both the panpipe and the {@link ProcessBuilder} variant
 * of a pair get the very same command line.
 */
@State(Scope.Benchmark)
public class Placement {
    @Param({"inherit"})
    public String childCpu;

    private List<String> prefix = List.of();

    @Setup(Level.Trial)
    public void setUp() {
        requireNamedModulesWithNativeAccess();
        if (!childCpu.equals("inherit")) {
            if (!childCpu.matches("[0-9]+(,[0-9]+)*")) throw new IllegalArgumentException("childCpu: 'inherit' or a cpu list, not " + childCpu);
            prefix = List.of("taskset", "-c", childCpu);
        }
    }

    /** The command to start, with the taskset prefix when the child is placed on a cpu of its own. */
    public String[] command(String... command) {
        List<String> all = new ArrayList<>(prefix);
        all.addAll(Arrays.asList(command));
        return all.toArray(String[]::new);
    }

    /**
     * Fails the trial unless panpipe's three modules are named modules (module path, not class path) with
     * native access granted to them by name: a benchmark of a class-path panpipe would not measure what
     * users run, and ALL-UNNAMED access would hide a missing grant.
     */
    static void requireNamedModulesWithNativeAccess() {
        for (Class<?> c : new Class<?>[] {Syscalls.class, Pipe.class, SharedMemory.class}) {
            Module m = c.getModule();
            if (!m.isNamed()) {
                throw new IllegalStateException(c.getName() + " was loaded from the class path (" + m + "): put panpipe's jars on "
                        + "--module-path with --add-modules dev.panpipe.core,dev.panpipe.zerocopy (scripts/bench does)");
            }
            if (!m.isNativeAccessEnabled()) {
                throw new IllegalStateException(m.getName() + " has no native access: run the forks with "
                        + "--enable-native-access=dev.panpipe.bindings,dev.panpipe.core,dev.panpipe.zerocopy");
            }
        }
    }
}
