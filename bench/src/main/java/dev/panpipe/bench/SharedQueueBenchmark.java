package dev.panpipe.bench;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.zerocopy.queue.QueueClaim;
import dev.panpipe.zerocopy.queue.SharedQueue;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Group;
import org.openjdk.jmh.annotations.GroupThreads;
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
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Messages through one {@link SharedQueue} of {@value #SLOTS} slots (messages of up to {@value #MESSAGE_BYTES}
 * bytes, so 128-byte slots) between producer and consumer threads of this JMH fork: a {@code @Group} per
 * variant, its threads sharing the queue. One op = one message put by a producer thread or taken by a
 * consumer thread; with one producer and one consumer, each thread's ns/op is the time per message through
 * the queue (JMH's group score is the mean of its threads'), and with two of each, a message goes through
 * every ns/op / 2.
 *
 * <ul>
 *   <li>{@code oneHandle}: 8-byte messages, {@link SharedQueue#offerLong(long, Duration)} and
 *       {@link SharedQueue#pollLong(Duration, long)} (the call that allocates nothing, inlined or not), both
 *       threads through one handle.</li>
 *   <li>{@code twoHandles}: the same, each thread through its own handle: a second mapping of the queue's
 *       memfd, attached from a close-on-exec duplicate of its fd, as another process would attach it.</li>
 *   <li>{@code segment}: 64-byte messages copied from and to native {@link MemorySegment}s,
 *       {@link SharedQueue#offer(MemorySegment, Duration)} and {@link SharedQueue#poll(MemorySegment, Duration)}.</li>
 *   <li>{@code claim}: 64-byte messages written in place, {@link SharedQueue#claim(QueueClaim, Duration)},
 *       a copy into {@link QueueClaim#buffer()} and {@link QueueClaim#commit(int)}; taken as in {@code segment}.</li>
 *   <li>{@code mpmc}: two producer and two consumer threads, 8-byte messages as in {@code oneHandle}.</li>
 * </ul>
 *
 * <p>Every call is the timed variant, with {@link #TIMEOUT}: once one thread of a group has stopped at the end
 * of an iteration, its partner may find the queue full or empty for good, and a call without a limit would
 * hang the fork. JMH keeps every thread of a group calling until all have left the measurement, so such a
 * timeout happens after the measured window, in the last call of a thread whose partner has already left;
 * it is not an error then (JMH would fail the run on an exception thrown there), so a timed-out call just
 * returns. With one producer, the consumer checks that the values come in order: a lost message fails the run.
 *
 * <p>Placement: the threads run wherever the fork's cpu affinity lets them, and the fork inherits the
 * launcher's. scripts/bench pins the JVM to cpu 0, so there both threads share one vCPU and this class runs in
 * the same-core placement only (the queue then fills, the producer sleeps on the futex, the consumer drains
 * up to 1024 messages in its time slice). Across two vCPUs, run JMH itself under {@code taskset -c 0,1}; the
 * command is in {@link SharedQueue}'s class comment.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
// dev.panpipe.bindings.linux (F_DUPFD_CLOEXEC, for the second handle) is exported to panpipe's modules only;
// the bench runs on the class path. Appended, so that the launcher's -jvmArgs (scripts/bench's) stay whole.
@Fork(value = 1, jvmArgsAppend = "--add-exports=dev.panpipe.bindings/dev.panpipe.bindings.linux=ALL-UNNAMED")
public class SharedQueueBenchmark {
    static final int SLOTS = 1024;
    static final int MESSAGE_BYTES = 64;
    /** Long enough never to expire within a measured window, short enough to end an iteration promptly. */
    static final Duration TIMEOUT = Duration.ofMillis(100);

    /** A queue and the handles its producer and consumer threads use (the same one, or two). */
    public abstract static class Queue {
        SharedQueue producers;
        SharedQueue consumers;

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            try {
                if (consumers != producers) consumers.close();
            } finally {
                producers.close();
            }
        }
    }

    /** One queue, one handle for every thread of the group. */
    @State(Scope.Group)
    public static class OneHandle extends Queue {
        @Setup(Level.Trial)
        public void setUp() throws IOException {
            Placement.requireNamedModulesWithNativeAccess();
            producers = consumers = SharedQueue.create("bench", SLOTS, MESSAGE_BYTES);
        }
    }

    /** One queue, the producer's handle and the consumer's handle two mappings of it. */
    @State(Scope.Group)
    public static class TwoHandles extends Queue {
        @Setup(Level.Trial)
        public void setUp() throws IOException {
            Placement.requireNamedModulesWithNativeAccess();
            producers = SharedQueue.create("bench", SLOTS, MESSAGE_BYTES);
            try {
                // attach takes the fd: a duplicate, as the fd a child process is handed would be
                consumers = SharedQueue.attach(Syscalls.fcntl((int) producers.nativeHandle(), linux_h.F_DUPFD_CLOEXEC(), 0));
            } catch (IOException | RuntimeException e) {
                producers.close();
                throw e;
            }
        }
    }

    /** A producer thread's message, claim and next value. */
    @State(Scope.Thread)
    public static class Producer {
        Arena arena;
        MemorySegment message;
        final QueueClaim claim = new QueueClaim();
        long next;

        @Setup(Level.Trial)
        public void setUp() {
            arena = Arena.ofConfined();
            message = arena.allocate(MESSAGE_BYTES, 8);
            for (int i = 0; i < MESSAGE_BYTES; i++) message.set(ValueLayout.JAVA_BYTE, i, (byte) i);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
        }
    }

    /** A consumer thread's destination and the value it expects next (one producer only). */
    @State(Scope.Thread)
    public static class Consumer {
        Arena arena;
        MemorySegment destination;
        long expected;

        @Setup(Level.Trial)
        public void setUp() {
            arena = Arena.ofConfined();
            destination = arena.allocate(MESSAGE_BYTES, 8);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
        }
    }

    // ---- oneHandle

    @Benchmark
    @Group("oneHandle")
    public boolean oneHandlePut(OneHandle q, Producer p) throws InterruptedException {
        return putLong(q.producers, p);
    }

    @Benchmark
    @Group("oneHandle")
    public long oneHandleTake(OneHandle q, Consumer c) throws InterruptedException {
        return takeInOrder(q.consumers, c);
    }

    // ---- twoHandles

    @Benchmark
    @Group("twoHandles")
    public boolean twoHandlesPut(TwoHandles q, Producer p) throws InterruptedException {
        return putLong(q.producers, p);
    }

    @Benchmark
    @Group("twoHandles")
    public long twoHandlesTake(TwoHandles q, Consumer c) throws InterruptedException {
        return takeInOrder(q.consumers, c);
    }

    // ---- segment

    @Benchmark
    @Group("segment")
    public boolean segmentPut(OneHandle q, Producer p) throws InterruptedException {
        return q.producers.offer(p.message, TIMEOUT);
    }

    @Benchmark
    @Group("segment")
    public int segmentTake(OneHandle q, Consumer c) throws InterruptedException {
        return takeSegment(q.consumers, c);
    }

    // ---- claim

    @Benchmark
    @Group("claim")
    public boolean claimPut(OneHandle q, Producer p) throws InterruptedException {
        QueueClaim claim = p.claim;
        if (!q.producers.claim(claim, TIMEOUT)) return false;
        MemorySegment.copy(p.message, 0, claim.buffer(), 0, MESSAGE_BYTES);
        claim.commit(MESSAGE_BYTES);
        return true;
    }

    @Benchmark
    @Group("claim")
    public int claimTake(OneHandle q, Consumer c) throws InterruptedException {
        return takeSegment(q.consumers, c);
    }

    // ---- mpmc: two producers, two consumers

    @Benchmark
    @Group("mpmc")
    @GroupThreads(2)
    public boolean mpmcPut(OneHandle q, Producer p) throws InterruptedException {
        return putLong(q.producers, p);
    }

    @Benchmark
    @Group("mpmc")
    @GroupThreads(2)
    public long mpmcTake(OneHandle q) throws InterruptedException {
        return q.consumers.pollLong(TIMEOUT, -1);   // values are never negative: -1 is none
    }

    // ----

    /** A value offered and not taken (the queue stayed full past the timeout) is offered again next time. */
    private static boolean putLong(SharedQueue queue, Producer p) throws InterruptedException {
        if (!queue.offerLong(p.next, TIMEOUT)) return false;
        p.next++;
        return true;
    }

    /** -1 if none came: see the class comment on timeouts. */
    private static long takeInOrder(SharedQueue queue, Consumer c) throws InterruptedException {
        long value = queue.pollLong(TIMEOUT, -1);   // the producer sends 0, 1, 2, ...: never -1
        if (value == -1) return -1;
        if (value != c.expected) throw new IllegalStateException("took " + value + ", expected " + c.expected);
        c.expected++;
        return value;
    }

    private static int takeSegment(SharedQueue queue, Consumer c) throws InterruptedException {
        int length = queue.poll(c.destination, TIMEOUT);
        if (length != MESSAGE_BYTES && length != SharedQueue.EMPTY) throw new IllegalStateException("took a message of " + length + " bytes");
        return length;
    }
}
