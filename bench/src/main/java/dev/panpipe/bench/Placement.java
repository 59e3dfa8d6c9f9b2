package dev.panpipe.bench;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.io.Pipe;
import dev.panpipe.zerocopy.SharedMemory;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
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
     * Fails unless process {@code pid} may run on exactly the cpus this placement puts children on: the JVM's
     * own for {@code inherit}, else {@link #childCpu}. Call it once the child has told it started, so that
     * {@code taskset} has moved it already.
     */
    public void requireChildPlaced(long pid) throws IOException {
        String cpus = cpusAllowed(pid);
        String expected = childCpu.equals("inherit") ? cpusAllowed(ProcessHandle.current().pid()) : childCpu;
        if (!cpuSet(cpus).equals(cpuSet(expected))) {
            throw new IllegalStateException("child " + pid + " runs on cpus " + cpus + ", expected " + expected + " (childCpu=" + childCpu + ")");
        }
    }

    /**
     * True if a child may run on a cpu this JVM may run on too: always for {@code inherit}. Two ends that spin
     * on one cpu take turns only when the scheduler preempts one of them.
     */
    public boolean childSharesCpu() throws IOException {
        return childCpu.equals("inherit") || cpuSet(cpusAllowed(ProcessHandle.current().pid())).intersects(cpuSet(childCpu));
    }

    /** {@code Cpus_allowed_list} of process {@code pid}, e.g. {@code 0} or {@code 0-1}. */
    static String cpusAllowed(long pid) throws IOException {
        String key = "Cpus_allowed_list:";
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith(key)) return line.substring(key.length()).strip();
        }
        throw new IllegalStateException("no " + key + " in /proc/" + pid + "/status");
    }

    /** A cpu list as taskset and /proc write it ({@code 0,2-3}) as a set. */
    static BitSet cpuSet(String list) {
        BitSet set = new BitSet();
        for (String part : list.split(",")) {
            int dash = part.indexOf('-');
            int from = Integer.parseInt(part.substring(0, dash < 0 ? part.length() : dash).strip());
            int to = dash < 0 ? from : Integer.parseInt(part.substring(dash + 1).strip());
            set.set(from, to + 1);
        }
        return set;
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
