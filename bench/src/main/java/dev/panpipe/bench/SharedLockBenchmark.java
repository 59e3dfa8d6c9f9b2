package dev.panpipe.bench;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.zerocopy.SharedMemory;
import dev.panpipe.zerocopy.shared.LockOwnerDiedException;
import dev.panpipe.zerocopy.shared.SharedLock;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Group;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * {@link SharedLock}'s lock+unlock beside the robust process-shared pthread mutex it was chosen over
 * ({@link RobustMutex}, through downcalls) and the JDK's {@link ReentrantLock}, the lock a Java programmer
 * would otherwise reach for (threads of one process only). One op = one lock and one unlock.
 *
 * <ul>
 *   <li>{@code sharedLock}, {@code robustMutex}, {@code reentrantLock}: uncontended, one thread locking and
 *       unlocking with nothing in between.</li>
 *   <li>{@code sharedLockContended}, {@code robustMutexContended}, {@code reentrantLockContended}: a
 *       {@code @Group} of two threads taking turns at the lock, each adding 1 to a counter while it holds it;
 *       JMH's group score is the mean of the two threads' ns/op. For the two cross-process locks each thread
 *       has its own handle, as two processes would: {@code SharedLock}'s second handle is an
 *       {@link SharedLock#attach(int) attach} of a close-on-exec duplicate of its fd, the mutex's a second
 *       mapping of its memfd, so the threads reach the lock word at two addresses.</li>
 * </ul>
 *
 * <p>Placement: the threads run wherever the fork's cpu affinity lets them, and the fork inherits the
 * launcher's. scripts/bench pins the JVM to cpu 0, so there the two threads share one vCPU (they take turns
 * at the lock between time slices, and a waiter seldom sleeps) and this class runs in the same-core placement
 * only. Across two vCPUs, run JMH itself under {@code taskset -c 0,1}; the command and the figures are in
 * {@link SharedLock}'s class comment.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
// dev.panpipe.bindings.linux (F_DUPFD_CLOEXEC, for the second handle) is exported to panpipe's modules only, and
// RobustMutex's downcalls are made from the class path, where the benchmarks run: native access for the unnamed
// module too (panpipe's own modules keep theirs by name, which Placement checks). Appended, so that the
// launcher's -jvmArgs (scripts/bench's) stay whole.
@Fork(value = 1, jvmArgsAppend = {"--add-exports=dev.panpipe.bindings/dev.panpipe.bindings.linux=ALL-UNNAMED",
        "--enable-native-access=ALL-UNNAMED"})
public class SharedLockBenchmark {

    // Each lock comes in two scopes: JMH lets only @Group methods use a Scope.Group state, and the uncontended
    // benchmarks are not groups.

    /** One {@link SharedLock} and two handles of it; the uncontended benchmark uses the first only. */
    public abstract static class SharedLocks {
        SharedLock first;
        SharedLock second;
        long counter;

        @Setup(Level.Trial)
        public void setUp() throws IOException {
            Placement.requireNamedModulesWithNativeAccess();
            first = SharedLock.create("bench");
            try {
                // attach takes the fd: a duplicate, as the fd a child process is handed would be
                second = SharedLock.attach(Syscalls.fcntl((int) first.nativeHandle(), linux_h.F_DUPFD_CLOEXEC(), 0));
            } catch (IOException | RuntimeException e) {
                first.close();
                throw e;
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            try {
                second.close();
            } finally {
                first.close();
            }
        }
    }

    @State(Scope.Thread)
    public static class SharedLockAlone extends SharedLocks {
    }

    @State(Scope.Group)
    public static class SharedLockShared extends SharedLocks {
    }

    /** One robust pthread mutex in shared memory, mapped twice; the uncontended benchmark uses the first mapping. */
    public abstract static class Mutexes {
        SharedMemory firstMapping;
        SharedMemory secondMapping;
        MemorySegment first;
        MemorySegment second;
        long counter;

        @Setup(Level.Trial)
        public void setUp() throws IOException {
            Placement.requireNamedModulesWithNativeAccess();
            firstMapping = SharedMemory.create("bench-mutex", RobustMutex.BYTES);
            try {
                secondMapping = SharedMemory.map(Syscalls.fcntl((int) firstMapping.nativeHandle(), linux_h.F_DUPFD_CLOEXEC(), 0));
                first = firstMapping.segment().asSlice(0, RobustMutex.BYTES);
                second = secondMapping.segment().asSlice(0, RobustMutex.BYTES);
                RobustMutex.init(first);
            } catch (IOException | RuntimeException e) {
                if (secondMapping != null) secondMapping.close();
                firstMapping.close();
                throw e;
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            try {
                RobustMutex.destroy(first);
                secondMapping.close();
            } finally {
                firstMapping.close();
            }
        }
    }

    @State(Scope.Thread)
    public static class MutexAlone extends Mutexes {
    }

    @State(Scope.Group)
    public static class MutexShared extends Mutexes {
    }

    /** The JDK's lock. */
    public abstract static class JdkLock {
        final ReentrantLock lock = new ReentrantLock();
        long counter;
    }

    @State(Scope.Thread)
    public static class JdkLockAlone extends JdkLock {
    }

    @State(Scope.Group)
    public static class JdkLockShared extends JdkLock {
    }

    // ---- uncontended

    @Benchmark
    public void sharedLock(SharedLockAlone s) throws InterruptedException, LockOwnerDiedException {
        s.first.lock();
        s.first.unlock();
    }

    @Benchmark
    public void robustMutex(MutexAlone m) {
        RobustMutex.lock(m.first);
        RobustMutex.unlock(m.first);
    }

    @Benchmark
    public void reentrantLock(JdkLockAlone j) {
        j.lock.lock();
        j.lock.unlock();
    }

    // ---- two threads, a handle each

    @Benchmark
    @Group("sharedLockContended")
    public void sharedLockFirstHandle(SharedLockShared s) throws InterruptedException, LockOwnerDiedException {
        add(s.first, s);
    }

    @Benchmark
    @Group("sharedLockContended")
    public void sharedLockSecondHandle(SharedLockShared s) throws InterruptedException, LockOwnerDiedException {
        add(s.second, s);
    }

    @Benchmark
    @Group("robustMutexContended")
    public void robustMutexFirstMapping(MutexShared m) {
        add(m.first, m);
    }

    @Benchmark
    @Group("robustMutexContended")
    public void robustMutexSecondMapping(MutexShared m) {
        add(m.second, m);
    }

    @Benchmark
    @Group("reentrantLockContended")
    public void reentrantLockFirstThread(JdkLockShared j) {
        add(j);
    }

    @Benchmark
    @Group("reentrantLockContended")
    public void reentrantLockSecondThread(JdkLockShared j) {
        add(j);
    }

    // ----

    private static void add(SharedLock lock, SharedLocks s) throws InterruptedException, LockOwnerDiedException {
        lock.lock();
        try {
            s.counter++;
        } finally {
            lock.unlock();
        }
    }

    private static void add(MemorySegment mutex, Mutexes m) {
        RobustMutex.lock(mutex);
        try {
            m.counter++;
        } finally {
            RobustMutex.unlock(mutex);
        }
    }

    private static void add(JdkLock j) {
        j.lock.lock();
        try {
            j.counter++;
        } finally {
            j.lock.unlock();
        }
    }
}
