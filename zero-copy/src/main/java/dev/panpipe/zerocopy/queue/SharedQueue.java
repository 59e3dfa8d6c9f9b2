package dev.panpipe.zerocopy.queue;

import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.zerocopy.SharedMemory;
import dev.panpipe.zerocopy.internal.Headers;
import dev.panpipe.zerocopy.internal.Processes;
import dev.panpipe.zerocopy.internal.SharedRegion;
import dev.panpipe.zerocopy.shared.SharedHeaderException;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.OptionalLong;

import static dev.panpipe.zerocopy.internal.SharedRegion.INT;
import static dev.panpipe.zerocopy.internal.SharedRegion.LONG;
import static dev.panpipe.zerocopy.queue.QueueLayout.ABANDONED;
import static dev.panpipe.zerocopy.queue.QueueLayout.CLAIMER_START;
import static dev.panpipe.zerocopy.queue.QueueLayout.HEAD_OFFSET;
import static dev.panpipe.zerocopy.queue.QueueLayout.LENGTH;
import static dev.panpipe.zerocopy.queue.QueueLayout.NOT_EMPTY_OFFSET;
import static dev.panpipe.zerocopy.queue.QueueLayout.NOT_FULL_OFFSET;
import static dev.panpipe.zerocopy.queue.QueueLayout.PAYLOAD;
import static dev.panpipe.zerocopy.queue.QueueLayout.READER;
import static dev.panpipe.zerocopy.queue.QueueLayout.RECLAIMED_OFFSET;
import static dev.panpipe.zerocopy.queue.QueueLayout.SEQUENCE;
import static dev.panpipe.zerocopy.queue.QueueLayout.SLOTS_OFFSET;
import static dev.panpipe.zerocopy.queue.QueueLayout.START_BITS;
import static dev.panpipe.zerocopy.queue.QueueLayout.TAIL_OFFSET;
import static dev.panpipe.zerocopy.queue.QueueLayout.UNKNOWN_START;
import static dev.panpipe.zerocopy.queue.QueueLayout.WRITER;
import static dev.panpipe.zerocopy.queue.QueueLayout.claimWord;
import static dev.panpipe.zerocopy.queue.QueueLayout.claimedPid;
import static dev.panpipe.zerocopy.queue.QueueLayout.claimedPosition;
import static dev.panpipe.zerocopy.queue.QueueLayout.recordedSequence;
import static dev.panpipe.zerocopy.queue.QueueLayout.recordedStartTime;
import static dev.panpipe.zerocopy.queue.QueueLayout.startRecord;

/**
 * A bounded queue of byte messages in shared memory, for many producer and many consumer processes:
 * Python's {@code multiprocessing.Queue}, without a feeder thread or pickling. Full means wait
 * ({@link #put}) or fail ({@link #offer}), never drop; every blocking call has a timed variant.
 *
 * {@snippet :
 * try (SharedQueue jobs = SharedQueue.create("jobs", 1024, 256)) {     // 1024 slots of up to 256 bytes
 *     Subprocess worker = Subprocess.builder(javaCommand)
 *             .passFd(3, Redirect.fd((int) jobs.nativeHandle()))          // the worker: SharedQueue.attach(3)
 *             .start();
 *     jobs.put("resize a.png".getBytes(UTF_8));                       // blocks while the queue is full
 *     jobs.putLong(42);
 * }
 * // a worker
 * try (SharedQueue jobs = SharedQueue.attach(3)) {
 *     byte[] job = jobs.poll(Duration.ofSeconds(5));                   // null if nothing came in time
 *     long n = jobs.takeLong();
 *     jobs.poll(message -> handle(message));                           // in place, no copy
 * }
 * }
 *
 * <h2>Ordering and delivery</h2>
 * Every message is delivered to exactly one consumer. Messages are taken in the order their producers
 * claimed slots, so the messages of one producer thread reach every single consumer in the order they
 * were put (two consumers may of course handle them at the same time).
 *
 * <h2>Design: a shared-memory ring, not a pipe</h2>
 * The other candidate was one pipe with fixed-size records of at most {@code PIPE_BUF} bytes (the kernel
 * writes those atomically, so records never interleave). It makes death easy, but every message costs a
 * {@code write} and a {@code read} system call and two copies through the kernel, messages are capped at
 * 4 KiB, and blocking readers cannot be woken by another thread of their process. This ring is Dmitry
 * Vyukov's bounded MPMC queue: each slot carries a sequence number that says whose turn it is (free for the
 * producer of position p when it equals p, full for the consumer of p when it equals p+1), producers and
 * consumers each advance one shared counter with compare-and-set, and a message is written once, straight
 * into shared memory, and read once. Nothing enters the kernel while neither side has to wait.
 * <p>Waiting is a {@code futex_wait} on one of two words in shared memory (not empty / not full), after a
 * short spin. Each word is an eventcount: a 31-bit epoch and a "sleepers" bit. A waiter sets the bit,
 * looks at the ring once more and sleeps on the value it set; a side that changes the ring reads the
 * word and, only if the bit is set, starts a new epoch without it and wakes all sleepers on the word.
 * So a busy queue makes no system call, an idle one burns no CPU, and a wake-up is paid once per
 * episode of sleeping rather than once per message. (A first version counted sleepers and woke one per
 * message: with 4 producer and 4 consumer processes on 2 vCPUs it made 3.2 million futex calls for a
 * million messages and took 2.5-3 s; this one made ~20,000 and took ~1 s, on the machine of that day.)
 *
 * <h2>Cost</h2>
 * {@code SharedQueueBenchmark} (bench/) measures threads of one JVM: JMH AverageTime, one op = one message
 * put by a producer thread or taken by a consumer thread, 1024 slots for messages of up to 64 bytes, every
 * call the timed variant. On this project's 2-vCPU VM, 3 runs of 2 forks per placement (other work took
 * ~20% of the CPUs during two of the one-vCPU runs and one of the two-vCPU runs), ns/op as the range of
 * the forks' means, B/op of the benchmark's threads in the steady part of each iteration
 * ({@code SteadyAllocationProfiler}):
 * <pre>
 *   variant                         both threads on one vCPU   on two vCPUs     B/op
 *   oneHandle   8 B, one handle            97-124 ns          178-449 ns       0
 *   twoHandles  8 B, a handle each         97-136 ns          113-166 ns       0
 *   segment     64 B, offer/poll          103-144 ns          212-307 ns       0
 *   claim       64 B, claim/commit        163-248 ns          189-549 ns       0
 *   mpmc        8 B, 2 + 2 threads        197-343 ns          318-726 ns       0
 * </pre>
 * (oneHandle and mpmc read 0-13 B/op on two vCPUs that day: they took with {@link #pollLong(Duration)}, whose
 * {@code OptionalLong} some forks' JIT did not inline. They take with {@link #pollLong(Duration, long)} since,
 * and every variant read 0 B/op in both placements on 2026-12-05, one run of 2 forks each.)
 * With one producer and one consumer, ns/op is the time per message; with two of each, a message passes
 * every half of it. On one vCPU the queue fills, the producer sleeps and the consumer drains it in its
 * time slice; on two, the figures move with where the host puts the two vCPUs (README, Benchmarks) and with
 * how often a thread finds the queue empty or full and sleeps. The calls measured allocate nothing, sleeping
 * and waking included: the 8-byte variants take with {@link #pollLong(Duration, long)}, which returns a
 * {@code long}. {@link #pollLong(Duration)} and {@link #pollInt(Duration)} return an {@code OptionalLong} /
 * {@code OptionalInt}, 24 bytes a take wherever the JIT does not inline the call into its caller (then the
 * allocation can be removed, and the bench once read 0 B/op for it; a caller cannot count on that), so a hot
 * loop takes with {@code pollLong(Duration, long)} or {@code pollInt(Duration, int)}
 * ({@code SharedQueueAllocationTest} holds both to 0 bytes in a JVM that inlines nothing of this class). A pipe pays a system call per message instead: the same day, a 64-byte
 * {@code write} alone, into a pipe whose reader drains it 1 MiB at a time, took 3.0-3.1 µs with both ends
 * on one vCPU and 1.9 µs across two in C ({@code bench/src/main/c/pipe_throughput.c --sizes 64}), and
 * 2.7-2.8 µs and 2.0-2.2 µs through the JDK's NIO {@code Pipe} between two threads
 * ({@code NioPipeBenchmark.throughput}, {@code size=64}); the same C loop read 0.6-0.8 µs in
 * {@code bench/results/2026-12-03-vm-5}, so compare figures of one day only. The
 * queue's command (run it again under {@code taskset -c 0,1}):
 * {@snippet lang=sh :
 * . scripts/lib-jdk.sh && . scripts/lib-maven.sh && panpipe_mvn -q package -pl bench -am -DskipTests
 * f="--module-path bench/target/modules --add-modules dev.panpipe.zerocopy --enable-native-access=dev.panpipe.bindings,dev.panpipe.core,dev.panpipe.zerocopy --sun-misc-unsafe-memory-access=allow"
 * taskset -c 0 $JAVA_HOME/bin/java $f -cp bench/target/benchmarks.jar org.openjdk.jmh.Main -jvmArgs "$f --illegal-native-access=deny" \
 *     SharedQueueBenchmark -f 2 -prof gc -prof dev.panpipe.bench.SteadyAllocationProfiler
 * }
 * <p>The claimer's start time that layout version 2 records ({@link QueueLayout}) is one store more per claim,
 * for a put and a take alike. On 2026-12-05, under other work (load 2-8), before and after it in turn, 3 runs of
 * 2 forks each: claim 206-338 ns before and 218-342 ns after with both threads on one vCPU, 161-241 and
 * 161-245 ns on two; segment 133-254 / 138-413 ns and 116-183 / 104-168 ns; 0 B/op throughout. No difference
 * shows through that noise; one thread alone claiming, committing and polling a 64-byte message, pinned to one
 * vCPU, took 100-102 ns a message against 98-99 ns (a scratch loop of the timed calls, 6 runs each, in turn).
 * <p>Child JVMs: in {@code SharedQueueProcessTest}, four producer and four consumer processes (8 JVMs on the 2
 * vCPUs) moved a million 8-byte messages in 1.1-3.5 s per process, 6.0-6.8 s with the JVMs' starts (3 runs).
 *
 * <h2>When a process dies mid-operation</h2>
 * Vyukov's ring alone would wedge: a producer killed between claiming a slot and publishing it leaves a
 * slot that consumers wait on forever, and a consumer killed while reading one leaves a slot producers can
 * never reuse. Here a slot is claimed by a compare-and-set that records the claiming process's pid with the
 * position, and the claimer then records its start time beside it ({@link QueueLayout}); the shared
 * counters are moved past a claimed slot by whoever sees it (so a claimer that dies before moving them does
 * not stop anyone), and a waiter that stays blocked on a slot looks at its claimer every 50 ms (a call that
 * does not wait, on a queue it finds empty or full, at most once per 50 ms). If that process has ended (its
 * pid is gone, or now names a process with another start time: a later one given the pid, the survivor
 * itself included), the survivor takes the slot back: a half-written message is skipped, a half-read one is
 * dropped (it was taken, and whoever took it died), and {@link #reclaimed()} counts it. So survivors go on;
 * nobody hangs. What remains:
 * <ul>
 *   <li>A message taken by a consumer that then dies is lost, as with any queue without acknowledgements.</li>
 *   <li>Processes are named by pid and start time, so they must share a pid namespace, and a time namespace
 *       too (/proc shows start times shifted by the reader's). A claimer killed between its claim and the
 *       store of its start time just after, its pid recycled before a waiter looks, is judged by its pid alone
 *       and makes the waiter wait, as if it still worked, until its timeout; so does one whose start time
 *       agrees with the later process's in the 32 bits kept (2^32 clock ticks apart: 497 days at 100 Hz).
 *       Either errs towards waiting: a live claimer is never taken for dead.</li>
 *   <li>A process killed while announced as a sleeper leaves the bit set: the next change clears it with
 *       one needless {@code futex_wake}, and that is all.</li>
 * </ul>
 *
 * <h2>When a process writes over the queue</h2>
 * Every process that maps the queue can write any word of it. A header that does not hold a queue is
 * a {@link SharedHeaderException} from {@code attach}; a slot word, head or tail that fits no state of
 * the protocol is a {@link CorruptQueueException} (naming the word) from the call that reaches it, never
 * a loop that spins on it or a copy past the slot. What no check can tell from a real message is not
 * caught: a scribbled payload, a length within bounds, a sequence set back (the slot then looks not yet
 * written, and calls time out), a claim naming a live process, or a start time written over one a live
 * claimer recorded (its slot is then taken back from under it, and its commit or release throws
 * {@link IllegalStateException}).
 *
 * <p>Thread safety: any number of threads of any number of processes may use one queue, each with its
 * own handle or sharing one. {@link #close()} unmaps it in this process only; threads of this process
 * blocked in it then get {@link IllegalStateException}, as does every later call.
 *
 * <h2>When a handle is closed while its threads use it</h2>
 * Every call happens whole or is refused whole: a {@code put} or {@code offer} that returns has
 * published its message, and one that throws {@link IllegalStateException} because the handle was closed
 * has published nothing, so it can be retried elsewhere without sending the message twice; a {@code take}
 * or {@code poll} likewise takes a message whole or none. (A close used to unmap the memory under a call
 * in flight: the call then threw half-way, after publishing, or with a slot left claimed by this live
 * process, which no survivor ever takes back, and the queue stopped there for every process.) So
 * {@link #close()} waits for the calls in flight, which are short, but not for the caller's own code:
 * <ul>
 *   <li>a {@link MessageHandler} still running keeps the memory mapped until it returns, and its slot is
 *       freed then as always; a handler may close its own queue;</li>
 *   <li>a {@link QueueClaim} still open is given up by the close, as by {@link QueueClaim#abort()}
 *       (readers skip it). It is given up after this handle's mapping is gone, so a thread still writing
 *       into it fails, rather than writing into the slot after another producer took it; its
 *       {@code commit} then throws {@link IllegalStateException}, its {@code abort} does nothing.</li>
 * </ul>
 */
public final class SharedQueue implements AutoCloseable {
    /** What the {@code poll} methods that fill a segment return when no message came. */
    public static final int EMPTY = -1;

    private static final int SPIN_TRIES = 100;
    /** This process's start time as a claim records it ({@link QueueLayout#CLAIMER_START}): its low 32 bits. */
    private static final int SELF_START = (int) Processes.SELF_START_TIME;
    /** Atomic access to the words of {@link #openClaims()}. */
    private static final VarHandle OPEN_CLAIMS = MethodHandles.arrayElementVarHandle(long[].class);
    /** The bit of a wake-up word that says someone sleeps, or is about to, on it. */
    private static final int SLEEPERS = 0x8000_0000;
    /** What the claimed length must be, for the message of an exception. */
    private static final int FOR_SEGMENT = 0;
    private static final int FOR_LONG = 1;
    private static final int FOR_INT = 2;
    /**
     * The most slots whose claim buffers a handle keeps ({@link #claimBuffers}): 2^16 views are ~3 MB of heap,
     * beside at least 4 MB of slots; a larger queue slices a buffer per claim instead.
     */
    private static final int MAX_CLAIM_BUFFERS = 1 << 16;

    private final SharedRegion region;
    private final MemorySegment seg;
    private final int capacity;
    private final long mask;
    private final int maxMessageSize;
    private final long slotSize;
    private final String name;
    /**
     * When a producer / consumer of this handle (waiting, or finding the queue full / empty) last looked for a
     * dead claimer (System.nanoTime).
     */
    private volatile long lastWriterCheck = System.nanoTime();
    private volatile long lastReaderCheck = System.nanoTime();
    /** See {@link #openClaims()}; null until this handle first claims. */
    private volatile long[] openClaims;
    /**
     * The payload of every slot, as {@link QueueClaim#buffer()} hands it out: made with {@link #openClaims()},
     * at the first claim, so a claim takes a view instead of slicing one. (A slice per claim was the claim
     * path's one allocation, 40 bytes a message: the claim keeps it, so escape analysis cannot remove it.)
     * Views of this handle's mapping, so writing into one fails once close has unmapped it, as into a fresh
     * slice. Null until then, and for queues of more than {@link #MAX_CLAIM_BUFFERS} slots.
     */
    private volatile MemorySegment[] claimBuffers;

    private SharedQueue(SharedRegion region, int capacity, int maxMessageSize) {
        this.region = region;
        this.seg = region.segment();
        this.capacity = capacity;
        this.mask = capacity - 1;
        this.maxMessageSize = maxMessageSize;
        this.slotSize = QueueLayout.slotSize(maxMessageSize);
        this.name = region.what();
        region.giveBackOnUnmap(new SharedRegion.GiveBack() {
            @Override
            public boolean pending() {
                return hasOpenClaims();
            }

            @Override
            public void giveBack(MemorySegment again) throws IOException {
                giveUpOpenClaims(again);
            }
        });
    }

    /**
     * A new, empty queue of {@code capacity} slots (a power of two, at least 2: with one slot "read at
     * position p" and "free for position p + 1" would be the same sequence number) for messages of up to
     * {@code maxMessageSize} bytes; {@code name} shows in /proc/PID/fd and in messages.
     */
    public static SharedQueue create(String name, int capacity, int maxMessageSize) throws IOException {
        if (capacity < 2 || capacity > QueueLayout.MAX_CAPACITY || Integer.bitCount(capacity) != 1) {
            throw new IllegalArgumentException("capacity must be a power of two from 2 to 2^30: " + capacity);
        }
        if (maxMessageSize < 0 || maxMessageSize > Integer.MAX_VALUE - 64) {
            throw new IllegalArgumentException("maxMessageSize must be from 0 to 2^31-65: " + maxMessageSize);
        }
        long slotSize = QueueLayout.slotSize(maxMessageSize);
        long size = Math.addExact(SLOTS_OFFSET, Math.multiplyExact(capacity, slotSize));
        SharedMemory memory = SharedMemory.create(name, size);
        return Headers.attachOrClose(memory, m -> {   // a header that cannot be written leaves no memory behind
            MemorySegment seg = m.segment();
            seg.set(ValueLayout.JAVA_INT, QueueLayout.VERSION_OFFSET, QueueLayout.VERSION);
            seg.set(ValueLayout.JAVA_INT, QueueLayout.CAPACITY_OFFSET, capacity);
            seg.set(ValueLayout.JAVA_INT, QueueLayout.MAX_MESSAGE_OFFSET, maxMessageSize);
            seg.set(ValueLayout.JAVA_INT, QueueLayout.SLOT_SIZE_OFFSET, (int) slotSize);
            Headers.writeName(seg, QueueLayout.NAME_OFFSET, QueueLayout.NAME_BYTES, name);
            for (long i = 0; i < capacity; i++) {
                long slot = SLOTS_OFFSET + i * slotSize;
                seg.set(ValueLayout.JAVA_LONG, slot + SEQUENCE, i);
                // "last claimed a lap ago", so that no claim matches a position of the first lap
                seg.set(ValueLayout.JAVA_LONG, slot + WRITER, claimWord(i - capacity, 0));
                seg.set(ValueLayout.JAVA_LONG, slot + READER, claimWord(i - capacity, 0));
                // and a start time for no claim of the first lap: a zero would pass for the writer of position 0's
                seg.set(ValueLayout.JAVA_LONG, slot + CLAIMER_START, startRecord(i - capacity, UNKNOWN_START));
            }
            INT.setRelease(seg, QueueLayout.MAGIC_OFFSET, QueueLayout.MAGIC);
            return new SharedQueue(new SharedRegion(m, "shared queue '" + name + "'", NOT_EMPTY_OFFSET, NOT_FULL_OFFSET),
                    capacity, maxMessageSize);
        });
    }

    /**
     * The queue in {@code memory}, made by {@link #create} in another process; takes ownership of
     * {@code memory} (and closes it if it does not hold a queue).
     *
     * @throws SharedHeaderException naming the header field that is wrong
     */
    public static SharedQueue attach(SharedMemory memory) throws IOException {
        return Headers.attachOrClose(memory, m -> {
            int[] header = validate(m.segment());
            String name = Headers.readName(m.segment(), QueueLayout.NAME_OFFSET, QueueLayout.NAME_BYTES);
            return new SharedQueue(new SharedRegion(m, "shared queue '" + name + "'", NOT_EMPTY_OFFSET, NOT_FULL_OFFSET),
                    header[0], header[1]);
        });
    }

    /** {@link #attach(SharedMemory)} of the shared memory handed to this process as {@code fd}. */
    public static SharedQueue attach(int fd) throws IOException {
        return attach(SharedMemory.map(fd));
    }

    /** Checks the header field by field; returns capacity and maximum message size. */
    private static int[] validate(MemorySegment seg) throws SharedHeaderException {
        if (seg.byteSize() < SLOTS_OFFSET) {
            throw new SharedHeaderException("size", seg.byteSize(), "shared queue: segment of " + seg.byteSize()
                    + " bytes is smaller than the " + SLOTS_OFFSET + "-byte header");
        }
        int magic = (int) INT.getAcquire(seg, QueueLayout.MAGIC_OFFSET);
        if (magic != QueueLayout.MAGIC) {
            throw new SharedHeaderException("magic", magic & 0xffffffffL, String.format("shared queue: bad magic 0x%08x "
                    + "(expected 0x%08x, \"PPQU\"): not a panpipe queue, or not initialised yet", magic, QueueLayout.MAGIC));
        }
        int version = seg.get(ValueLayout.JAVA_INT, QueueLayout.VERSION_OFFSET);
        if (version != QueueLayout.VERSION) {
            // version 1 is a layout of its own (no claimer start times, the payload 8 bytes earlier), not a subset
            throw new SharedHeaderException("version", version, "shared queue: unsupported version " + version
                    + (version == 1 ? ", made by an earlier panpipe (slots without the claimer's start time)" : "")
                    + " (this panpipe reads " + QueueLayout.VERSION + ")");
        }
        int capacity = seg.get(ValueLayout.JAVA_INT, QueueLayout.CAPACITY_OFFSET);
        if (capacity < 2 || capacity > QueueLayout.MAX_CAPACITY || Integer.bitCount(capacity) != 1) {
            throw new SharedHeaderException("capacity", capacity, "shared queue: capacity " + capacity
                    + " is not a power of two from 2 to 2^30");
        }
        int maxMessage = seg.get(ValueLayout.JAVA_INT, QueueLayout.MAX_MESSAGE_OFFSET);
        if (maxMessage < 0 || maxMessage > Integer.MAX_VALUE - 64) {
            throw new SharedHeaderException("maxMessageSize", maxMessage, "shared queue: maximum message size "
                    + maxMessage + " out of range");
        }
        // unsigned: the largest messages make slots of 2^31 bytes
        long slotSize = Integer.toUnsignedLong(seg.get(ValueLayout.JAVA_INT, QueueLayout.SLOT_SIZE_OFFSET));
        if (slotSize != QueueLayout.slotSize(maxMessage)) {
            throw new SharedHeaderException("slotSize", slotSize, "shared queue: slot size " + slotSize
                    + " (expected " + QueueLayout.slotSize(maxMessage) + " for messages of up to " + maxMessage + " bytes)");
        }
        long needed = SLOTS_OFFSET + capacity * slotSize;
        if (needed > seg.byteSize()) {
            throw new SharedHeaderException("capacity", capacity, "shared queue: " + capacity + " slots of " + slotSize
                    + " bytes need " + needed + " bytes, the segment has " + seg.byteSize());
        }
        return new int[]{capacity, maxMessage};
    }

    // ============================================================================================ producers
    //
    // Every call that takes a slot runs between region.enter() and region.exit(): a close waits for it, so it
    // publishes (or gives up) its slot whole, or is refused whole before it took one (see SharedRegion). A message
    // handler runs under a hold instead, which a close does not wait for; a claim's slot is given up at close.

    /** Adds {@code message} if there is room right now; false if the queue is full. */
    public boolean offer(MemorySegment message) {
        checkLength(message.byteSize());
        region.enter();
        try {
            long pos = claimWriteNowOrReclaim();
            if (pos >= 0) write(pos, message);
            return pos >= 0;
        } finally {
            region.exit();
        }
    }

    /** Adds {@code message}, waiting up to {@code timeout} for room; false if there was none. */
    public boolean offer(MemorySegment message, Duration timeout) throws InterruptedException {
        return offerWaiting(message, SharedRegion.nanos(timeout));
    }

    /** Adds {@code message}, waiting as long as it takes for room. */
    public void put(MemorySegment message) throws InterruptedException {
        offerWaiting(message, -1);
    }

    /** {@link #offer(MemorySegment)} of the bytes of {@code message}. */
    public boolean offer(byte[] message) {
        return offer(MemorySegment.ofArray(message));
    }

    /** {@link #offer(MemorySegment, Duration)} of the bytes of {@code message}. */
    public boolean offer(byte[] message, Duration timeout) throws InterruptedException {
        return offer(MemorySegment.ofArray(message), timeout);
    }

    /** {@link #put(MemorySegment)} of the bytes of {@code message}. */
    public void put(byte[] message) throws InterruptedException {
        put(MemorySegment.ofArray(message));
    }

    /** Adds an 8-byte message holding {@code value} if there is room right now. */
    public boolean offerLong(long value) {
        checkLength(Long.BYTES);
        region.enter();
        try {
            long pos = claimWriteNowOrReclaim();
            if (pos >= 0) writeLong(pos, value);
            return pos >= 0;
        } finally {
            region.exit();
        }
    }

    /** Adds an 8-byte message holding {@code value}, waiting up to {@code timeout} for room. */
    public boolean offerLong(long value, Duration timeout) throws InterruptedException {
        return offerLongWaiting(value, SharedRegion.nanos(timeout));
    }

    /** Adds an 8-byte message holding {@code value}, waiting as long as it takes for room. */
    public void putLong(long value) throws InterruptedException {
        offerLongWaiting(value, -1);
    }

    /** Adds a 4-byte message holding {@code value} if there is room right now. */
    public boolean offerInt(int value) {
        checkLength(Integer.BYTES);
        region.enter();
        try {
            long pos = claimWriteNowOrReclaim();
            if (pos >= 0) writeInt(pos, value);
            return pos >= 0;
        } finally {
            region.exit();
        }
    }

    /** Adds a 4-byte message holding {@code value}, waiting up to {@code timeout} for room. */
    public boolean offerInt(int value, Duration timeout) throws InterruptedException {
        return offerIntWaiting(value, SharedRegion.nanos(timeout));
    }

    /** Adds a 4-byte message holding {@code value}, waiting as long as it takes for room. */
    public void putInt(int value) throws InterruptedException {
        offerIntWaiting(value, -1);
    }

    /**
     * Claims a slot to write a message in place, if there is room right now: write it into
     * {@link QueueClaim#buffer()}, then {@link QueueClaim#commit(int)} (or {@link QueueClaim#abort()}). A
     * claim still open when this handle is closed is given up by the close (readers skip it); its commit
     * then throws {@link IllegalStateException}, its abort does nothing.
     * <p>A claim and its commit allocate nothing unless they sleep or wake a sleeper: the buffer is a view of
     * the slot that this handle made at its first claim (for queues of up to 65,536 slots; a larger queue
     * slices one per claim, 40 bytes).
     */
    public boolean tryClaim(QueueClaim claim) {
        checkInactive(claim);
        region.enter();
        try {
            return claimed(claim, claimWriteNowOrReclaim());
        } finally {
            region.exit();
        }
    }

    /** {@link #tryClaim(QueueClaim)}, waiting up to {@code timeout} for room. */
    public boolean claim(QueueClaim claim, Duration timeout) throws InterruptedException {
        checkInactive(claim);
        region.enter();
        try {
            return claimed(claim, claimWrite(SharedRegion.nanos(timeout)));
        } finally {
            region.exit();
        }
    }

    /** @param timeoutNanos -1: no limit */
    private boolean offerWaiting(MemorySegment message, long timeoutNanos) throws InterruptedException {
        checkLength(message.byteSize());
        region.enter();
        try {
            long pos = claimWrite(timeoutNanos);
            if (pos >= 0) write(pos, message);
            return pos >= 0;
        } finally {
            region.exit();
        }
    }

    /** @param timeoutNanos -1: no limit */
    private boolean offerLongWaiting(long value, long timeoutNanos) throws InterruptedException {
        checkLength(Long.BYTES);
        region.enter();
        try {
            long pos = claimWrite(timeoutNanos);
            if (pos >= 0) writeLong(pos, value);
            return pos >= 0;
        } finally {
            region.exit();
        }
    }

    /** @param timeoutNanos -1: no limit */
    private boolean offerIntWaiting(int value, long timeoutNanos) throws InterruptedException {
        checkLength(Integer.BYTES);
        region.enter();
        try {
            long pos = claimWrite(timeoutNanos);
            if (pos >= 0) writeInt(pos, value);
            return pos >= 0;
        } finally {
            region.exit();
        }
    }

    private static void checkInactive(QueueClaim claim) {
        Objects.requireNonNull(claim);
        if (claim.isActive()) throw new IllegalStateException("the claim still holds a slot: commit or abort it first");
    }

    /** Hands the slot of {@code pos} (if it is one) to {@code claim}, and notes it among the open claims. */
    private boolean claimed(QueueClaim claim, long pos) {
        if (pos < 0) return false;
        int index = (int) (pos & mask);
        OPEN_CLAIMS.getAndBitwiseOr(openClaims(), index >>> 6, 1L << index);
        MemorySegment[] buffers = claimBuffers;   // made before openClaims() returned
        claim.claimed(this, pos, buffers != null ? buffers[index] : payload(index));
        return true;
    }

    /** The payload of slot {@code index} of this handle's mapping, {@link #maxMessageSize} bytes. */
    private MemorySegment payload(int index) {
        return seg.asSlice(SLOTS_OFFSET + index * slotSize + PAYLOAD, maxMessageSize);
    }

    /** {@link QueueClaim#commit(int)} of the slot of {@code pos}. */
    void commitClaim(long pos, int length) {
        try {
            region.enter();
        } catch (IllegalStateException closed) {
            throw new IllegalStateException(name + " was closed while this claim was open: its slot was given up at close "
                    + "(readers skip it), and this message is not sent", closed);
        }
        try {
            forgetClaim(pos);
            commit(pos, length);
        } finally {
            region.exit();
        }
    }

    /** {@link QueueClaim#abort()} of the slot of {@code pos}; nothing if the queue was closed, which gave it up. */
    void abortClaim(long pos) {
        try {
            region.enter();
        } catch (IllegalStateException closed) {
            return;
        }
        try {
            forgetClaim(pos);
            abandon(pos);
        } finally {
            region.exit();
        }
    }

    /**
     * One bit per slot that a claim of this handle holds, neither committed nor aborted: what a close gives up
     * (a claim's owner may never end it: an exception between claim and commit is enough). Set and cleared
     * only inside a call, which a close waits for. Made at the first claim, with {@link #claimBuffers}: a bit
     * and a view per slot, for handles that claim.
     */
    private long[] openClaims() {
        long[] bits = openClaims;
        if (bits == null) {
            synchronized (this) {
                bits = openClaims;
                if (bits == null) {
                    if (capacity <= MAX_CLAIM_BUFFERS) {
                        MemorySegment[] buffers = new MemorySegment[capacity];
                        for (int i = 0; i < capacity; i++) buffers[i] = payload(i);
                        claimBuffers = buffers;   // before openClaims: a thread that sees the bits sees the views
                    }
                    openClaims = bits = new long[(capacity + 63) >>> 6];
                }
            }
        }
        return bits;
    }

    private void forgetClaim(long pos) {
        int index = (int) (pos & mask);
        OPEN_CLAIMS.getAndBitwiseAnd(openClaims, index >>> 6, ~(1L << index));
    }

    /** Whether a claim of this handle is open; asked by the region at close, once no call is in flight. */
    private boolean hasOpenClaims() {
        long[] bits = openClaims;
        if (bits == null) return false;
        for (int i = 0; i < bits.length; i++) if ((long) OPEN_CLAIMS.getVolatile(bits, i) != 0) return true;
        return false;
    }

    /**
     * At close, gives up the slots that claims of this handle still hold, as {@link QueueClaim#abort()} would:
     * readers skip them. Written through {@code again}, a second mapping, after this handle's is gone (see
     * {@link SharedRegion}), so a thread still writing into such a claim fails rather than writing into the
     * slot once another producer has it.
     */
    private void giveUpOpenClaims(MemorySegment again) throws IOException {
        long[] bits = openClaims;
        boolean gaveUp = false;
        for (int i = 0; i < bits.length; i++) {
            for (long word = (long) OPEN_CLAIMS.getAndSet(bits, i, 0L); word != 0; word &= word - 1) {
                long slot = SLOTS_OFFSET + ((long) i << 6 | Long.numberOfTrailingZeros(word)) * slotSize;
                long pos = (long) LONG.getAcquire(again, slot + SEQUENCE);     // claimed, not published: the position
                long claim = (long) LONG.getVolatile(again, slot + WRITER);
                if (claimedPosition(claim) != (int) pos || claimedPid(claim) != Processes.SELF) continue;   // written over
                INT.set(again, slot + LENGTH, ABANDONED);
                gaveUp |= LONG.compareAndSet(again, slot + SEQUENCE, pos, pos + 1);
            }
        }
        if (gaveUp && clearSleepers(again, NOT_EMPTY_OFFSET)) {
            try {
                Syscalls.futex_wake(again.asSlice(NOT_EMPTY_OFFSET, 4), Integer.MAX_VALUE);
            } catch (SyscallException e) {
                throw new IOException("waking the consumers of " + name + " after giving up its open claims", e);
            }
        }
    }

    // ============================================================================================ consumers

    /**
     * Takes a message into {@code dst} if one is there right now.
     *
     * @return its length, or {@link #EMPTY}
     * @throws IllegalStateException if the next message is longer than {@code dst} (it stays in the queue)
     * @throws IllegalArgumentException if {@code dst} is read-only (no message is taken)
     */
    public int poll(MemorySegment dst) {
        int limit = limit(dst);
        region.enter();
        try {
            long pos = claimReadNowOrReclaim(0, limit, FOR_SEGMENT);
            return pos < 0 ? EMPTY : readInto(pos, dst);
        } finally {
            region.exit();
        }
    }

    /** {@link #poll(MemorySegment)}, waiting up to {@code timeout} for a message. */
    public int poll(MemorySegment dst, Duration timeout) throws InterruptedException {
        return pollWaiting(dst, SharedRegion.nanos(timeout));
    }

    /** {@link #poll(MemorySegment)}, waiting as long as it takes for a message. */
    public int take(MemorySegment dst) throws InterruptedException {
        return pollWaiting(dst, -1);
    }

    /** Takes a message if one is there right now; null if not. */
    public byte[] poll() {
        region.enter();
        try {
            long pos = claimReadNowOrReclaim(0, maxMessageSize, FOR_SEGMENT);
            return pos < 0 ? null : readBytes(pos);
        } finally {
            region.exit();
        }
    }

    /** Takes a message, waiting up to {@code timeout}; null if none came. */
    public byte[] poll(Duration timeout) throws InterruptedException {
        return pollBytesWaiting(SharedRegion.nanos(timeout));
    }

    /** Takes a message, waiting as long as it takes. */
    public byte[] take() throws InterruptedException {
        return pollBytesWaiting(-1);
    }

    /**
     * Takes an 8-byte message, waiting as long as it takes.
     *
     * @throws IllegalStateException if the next message is not 8 bytes long (it stays in the queue)
     */
    public long takeLong() throws InterruptedException {
        region.enter();
        try {
            return readLong(claimRead(Long.BYTES, Long.BYTES, FOR_LONG, -1));
        } finally {
            region.exit();
        }
    }

    /**
     * Takes an 8-byte message, waiting up to {@code timeout} ({@link Duration#ZERO}: not at all).
     *
     * @apiNote The {@code OptionalLong} is 24 bytes a take wherever the JIT does not inline this method into
     * its caller; {@link #pollLong(Duration, long)} allocates nothing.
     */
    public OptionalLong pollLong(Duration timeout) throws InterruptedException {
        region.enter();
        try {
            long pos = claimRead(Long.BYTES, Long.BYTES, FOR_LONG, SharedRegion.nanos(timeout));
            return pos < 0 ? OptionalLong.empty() : OptionalLong.of(readLong(pos));
        } finally {
            region.exit();
        }
    }

    /**
     * Takes an 8-byte message, waiting up to {@code timeout} ({@link Duration#ZERO}: not at all): its value, or
     * {@code ifNone} if none came. Allocates nothing, inlined or not: the consumer's call for a hot loop.
     * A message that holds {@code ifNone} reads as none, so pass a value the producers never send (as Agrona's
     * maps take a {@code missingValue}), or use {@link #pollLong(Duration)}.
     *
     * @throws IllegalStateException if the next message is not 8 bytes long (it stays in the queue)
     */
    public long pollLong(Duration timeout, long ifNone) throws InterruptedException {
        return pollPrimitive(Long.BYTES, FOR_LONG, timeout, ifNone);
    }

    /**
     * Takes a 4-byte message, waiting as long as it takes.
     *
     * @throws IllegalStateException if the next message is not 4 bytes long (it stays in the queue)
     */
    public int takeInt() throws InterruptedException {
        region.enter();
        try {
            return readInt(claimRead(Integer.BYTES, Integer.BYTES, FOR_INT, -1));
        } finally {
            region.exit();
        }
    }

    /**
     * Takes a 4-byte message, waiting up to {@code timeout} ({@link Duration#ZERO}: not at all).
     *
     * @apiNote The {@code OptionalInt} is 24 bytes a take wherever the JIT does not inline this method into
     * its caller; {@link #pollInt(Duration, int)} allocates nothing.
     */
    public OptionalInt pollInt(Duration timeout) throws InterruptedException {
        region.enter();
        try {
            long pos = claimRead(Integer.BYTES, Integer.BYTES, FOR_INT, SharedRegion.nanos(timeout));
            return pos < 0 ? OptionalInt.empty() : OptionalInt.of(readInt(pos));
        } finally {
            region.exit();
        }
    }

    /**
     * Takes a 4-byte message, waiting up to {@code timeout}: its value, or {@code ifNone} if none came; allocates
     * nothing, as {@link #pollLong(Duration, long)}, and a message that holds {@code ifNone} reads as none.
     *
     * @throws IllegalStateException if the next message is not 4 bytes long (it stays in the queue)
     */
    public int pollInt(Duration timeout, int ifNone) throws InterruptedException {
        return (int) pollPrimitive(Integer.BYTES, FOR_INT, timeout, ifNone);
    }

    /**
     * Hands a message to {@code handler} in place, in shared memory, if one is there right now; its slot
     * is freed when the handler returns or throws (the message counts as taken either way). The handler
     * may close this queue: the memory stays mapped until it returns.
     */
    public boolean poll(MessageHandler handler) {
        Objects.requireNonNull(handler);
        long pos;
        region.enter();
        try {
            pos = claimReadNowOrReclaim(0, maxMessageSize, FOR_SEGMENT);
            if (pos < 0) return false;
            region.hold();
        } finally {
            region.exit();
        }
        handle(pos, handler);
        return true;
    }

    /** {@link #poll(MessageHandler)}, waiting up to {@code timeout} for a message. */
    public boolean poll(MessageHandler handler, Duration timeout) throws InterruptedException {
        Objects.requireNonNull(handler);
        long pos;
        region.enter();
        try {
            pos = claimRead(0, maxMessageSize, FOR_SEGMENT, SharedRegion.nanos(timeout));
            if (pos < 0) return false;
            region.hold();
        } finally {
            region.exit();
        }
        handle(pos, handler);
        return true;
    }

    /** {@link #pollLong(Duration, long)} and {@link #pollInt(Duration, int)}: a message of {@code size} bytes, 8 or 4. */
    private long pollPrimitive(int size, int forWhat, Duration timeout, long ifNone) throws InterruptedException {
        region.enter();
        try {
            long pos = claimRead(size, size, forWhat, SharedRegion.nanos(timeout));
            return pos < 0 ? ifNone : size == Long.BYTES ? readLong(pos) : readInt(pos);
        } finally {
            region.exit();
        }
    }

    /** @param timeoutNanos -1: no limit */
    private int pollWaiting(MemorySegment dst, long timeoutNanos) throws InterruptedException {
        int limit = limit(dst);
        region.enter();
        try {
            long pos = claimRead(0, limit, FOR_SEGMENT, timeoutNanos);
            return pos < 0 ? EMPTY : readInto(pos, dst);
        } finally {
            region.exit();
        }
    }

    /** @param timeoutNanos -1: no limit */
    private byte[] pollBytesWaiting(long timeoutNanos) throws InterruptedException {
        region.enter();
        try {
            long pos = claimRead(0, maxMessageSize, FOR_SEGMENT, timeoutNanos);
            return pos < 0 ? null : readBytes(pos);
        } finally {
            region.exit();
        }
    }

    // ============================================================================================ state

    /** Slots in the queue. */
    public int capacity() {
        return capacity;
    }

    /** The longest message, in bytes. */
    public int maxMessageSize() {
        return maxMessageSize;
    }

    /** Messages in the queue right now, claimed slots included (a snapshot, from 0 to capacity). */
    public int size() {
        long head = (long) LONG.getVolatile(seg, HEAD_OFFSET);
        long tail = (long) LONG.getVolatile(seg, TAIL_OFFSET);
        return (int) Math.max(0, Math.min(capacity, tail - head));
    }

    /** How many slots any process took back from a process that died writing or reading them. */
    public long reclaimed() {
        return (long) LONG.getVolatile(seg, RECLAIMED_OFFSET);
    }

    /** The shared memory's fd, to hand to a child ({@code SubprocessBuilder.passFd}); -1 once closed. */
    public long nativeHandle() {
        return region.nativeHandle();
    }

    @Override
    public String toString() {
        return name;
    }

    /** Unmaps the queue in this process and closes its fd; its blocked threads get {@link IllegalStateException}. Idempotent. */
    @Override
    public void close() throws IOException {
        region.close();
    }

    // ============================================================================================ the ring

    private long slot(long position) {
        return SLOTS_OFFSET + (position & mask) * slotSize;
    }

    /**
     * Claims the slot at the tail if it is free: its position, or -1 if the queue is full.
     *
     * <p>With the tail at p, a ring kept by this protocol has the slot of p in one of three states: free
     * for p (sequence p, writer claim p - capacity), claimed for p (claim p, sequence p or later: its
     * claimer, or a survivor that took it back, has not moved the tail yet), or not yet read a lap ago
     * (sequence from p - capacity to p - 1). Anything else is seen only through a tail that moved on
     * meanwhile; if the tail is still p, the slot or the tail was written over, and looping would spin
     * forever on it (a property test found that loop), so it is a {@link CorruptQueueException}.
     *
     * @throws CorruptQueueException if the slot at the tail is in no state of the protocol
     */
    private long claimWriteNow() {
        long pos = (long) LONG.getVolatile(seg, TAIL_OFFSET);
        for (;;) {
            long slot = slot(pos);
            long seq = (long) LONG.getAcquire(seg, slot + SEQUENCE);
            long dif = seq - pos;
            if (dif < 0 && dif >= -capacity) return -1;          // not read yet a lap ago: full
            if (dif >= 0) {
                long claim = (long) LONG.getVolatile(seg, slot + WRITER);
                int claimed = claimedPosition(claim);
                if (claimed == (int) pos) {
                    // claimed, but the tail not moved yet (its claimer is slow, or died first): move it for it
                    LONG.compareAndSet(seg, TAIL_OFFSET, pos, pos + 1);
                } else if (dif == 0 && claimed == (int) (pos - capacity)) {
                    if (LONG.compareAndSet(seg, slot + WRITER, claim, claimWord(pos, Processes.SELF))) {
                        recordClaimer(slot, pos);
                        LONG.compareAndSet(seg, TAIL_OFFSET, pos, pos + 1);
                        return pos;
                    }
                } else if ((long) LONG.getVolatile(seg, TAIL_OFFSET) == pos) {
                    throw corrupt(pos, dif == 0 ? "writer claim" : "sequence", dif == 0 ? claim : seq, "writing");
                }
            } else if ((long) LONG.getVolatile(seg, TAIL_OFFSET) == pos) {
                throw corrupt(pos, "sequence", seq, "writing");
            }
            pos = (long) LONG.getVolatile(seg, TAIL_OFFSET);
        }
    }

    /**
     * Claims the slot at the head if it holds a message of {@code min..max} bytes: its position, or -1 if empty.
     *
     * <p>With the head at p, the slot of p is full for p (sequence p + 1, reader claim p - capacity),
     * claimed for p (claim p, sequence p + 1 or later), or not written yet (sequence from p + 1 - capacity
     * to p); anything else, with the head still p, is a {@link CorruptQueueException}, as for writers.
     *
     * @throws CorruptQueueException if the slot at the head is in no state of the protocol, or holds a
     *                               length no message can have
     * @throws IllegalStateException if the message's length is not in {@code min..max} (it stays in the queue)
     */
    private long claimReadNow(int min, int max, int forWhat) {
        long pos = (long) LONG.getVolatile(seg, HEAD_OFFSET);
        for (;;) {
            long slot = slot(pos);
            long seq = (long) LONG.getAcquire(seg, slot + SEQUENCE);
            long dif = seq - (pos + 1);
            if (dif < 0 && dif >= -capacity) return -1;          // not written yet: empty
            if (dif >= 0) {
                // read in this order: a length read while no reader had claimed the slot is this lap's
                int length = (int) INT.getAcquire(seg, slot + LENGTH);
                long claim = (long) LONG.getVolatile(seg, slot + READER);
                int claimed = claimedPosition(claim);
                if (claimed == (int) pos) {
                    LONG.compareAndSet(seg, HEAD_OFFSET, pos, pos + 1);
                } else if (dif == 0 && claimed == (int) (pos - capacity)) {
                    // a writer stores only 0..maxMessageSize or ABANDONED, so a stale length is a valid one too
                    if (length != ABANDONED && (length < 0 || length > maxMessageSize)) throw corrupt(pos, "length", length, "reading");
                    if (length != ABANDONED && (length < min || length > max)) throw wrongLength(pos, length, max, forWhat);
                    if (LONG.compareAndSet(seg, slot + READER, claim, claimWord(pos, Processes.SELF))) {
                        recordClaimer(slot, pos + 1);
                        LONG.compareAndSet(seg, HEAD_OFFSET, pos, pos + 1);
                        if (length != ABANDONED) return pos;
                        release(pos);              // a slot given up by its writer: skip it
                    }
                } else if ((long) LONG.getVolatile(seg, HEAD_OFFSET) == pos) {
                    throw corrupt(pos, dif == 0 ? "reader claim" : "sequence", dif == 0 ? claim : seq, "reading");
                }
            } else if ((long) LONG.getVolatile(seg, HEAD_OFFSET) == pos) {
                throw corrupt(pos, "sequence", seq, "reading");
            }
            pos = (long) LONG.getVolatile(seg, HEAD_OFFSET);
        }
    }

    /**
     * Records this process's start time for the claim it just made of {@code slot}, which lives while the slot's
     * sequence is {@code liveSequence}: so that a survivor can tell this process from a later one given its pid
     * (see {@link #reclaimIfDead}). A store with no fence, to the line the claim's compare-and-set has just brought
     * in: the word is read only after the claim, and its tag says which claim it speaks for, so it needs no ordering.
     */
    private void recordClaimer(long slot, long liveSequence) {
        LONG.setOpaque(seg, slot + CLAIMER_START, startRecord(liveSequence, SELF_START));
    }

    /** @param timeoutNanos 0: do not wait; -1: no limit */
    private long claimWrite(long timeoutNanos) throws InterruptedException {
        if (timeoutNanos == 0) return claimWriteNowOrReclaim();
        long pos = claimWriteNow();
        return pos >= 0 ? pos : awaitWrite(timeoutNanos);
    }

    /** @param timeoutNanos 0: do not wait; -1: no limit */
    private long claimRead(int min, int max, int forWhat, long timeoutNanos) throws InterruptedException {
        if (timeoutNanos == 0) return claimReadNowOrReclaim(min, max, forWhat);
        long pos = claimReadNow(min, max, forWhat);
        return pos >= 0 ? pos : awaitRead(min, max, forWhat, timeoutNanos);
    }

    /**
     * {@link #claimWriteNow}, and on a full queue a look for a dead claimer once a slice, as a waiter makes: a
     * producer that only ever offers would otherwise find a queue that a dead consumer's slot holds full for ever.
     */
    private long claimWriteNowOrReclaim() {
        long pos = claimWriteNow();
        if (pos >= 0) return pos;
        return reclaimForWriterOncePerSlice(System.nanoTime()) ? claimWriteNow() : -1;
    }

    /**
     * {@link #claimReadNow}, and on an empty-looking queue a look for a dead claimer once a slice, as a waiter
     * makes: a consumer that only ever polls would otherwise find a queue that a dead producer's slot holds up
     * empty for ever.
     */
    private long claimReadNowOrReclaim(int min, int max, int forWhat) {
        long pos = claimReadNow(min, max, forWhat);
        if (pos >= 0) return pos;
        return reclaimForReaderOncePerSlice(System.nanoTime()) ? claimReadNow(min, max, forWhat) : -1;
    }

    /**
     * For a producer that found the queue full: once a slice per handle, takes back the slot a lap behind the tail
     * if the process that claimed it has ended. True if it did (look again).
     */
    private boolean reclaimForWriterOncePerSlice(long now) {
        if (now - lastWriterCheck < SharedRegion.sliceNanos()) return false;
        lastWriterCheck = now;
        long stuck = (long) LONG.getVolatile(seg, TAIL_OFFSET) - capacity;
        return stuck >= 0 && reclaimIfDead(stuck);
    }

    /**
     * For a consumer that found the queue empty: once a slice per handle, takes back the slot at the head if the
     * process that claimed it has ended. True if it did (look again).
     */
    private boolean reclaimForReaderOncePerSlice(long now) {
        if (now - lastReaderCheck < SharedRegion.sliceNanos()) return false;
        lastReaderCheck = now;
        return reclaimIfDead((long) LONG.getVolatile(seg, HEAD_OFFSET));
    }

    private long awaitWrite(long timeoutNanos) throws InterruptedException {
        for (int i = 0; i < SPIN_TRIES; i++) {
            Thread.onSpinWait();
            long pos = claimWriteNow();
            if (pos >= 0) return pos;
        }
        long start = System.nanoTime();
        for (int round = 0; ; round++) {
            int key = announceSleeper(NOT_FULL_OFFSET);
            // announced first, looked again second: a consumer that frees a slot now sees the announcement
            long pos = claimWriteNow();
            if (pos >= 0) return pos;
            long now = System.nanoTime();
            long slice = SharedRegion.sliceNanos();   // the longest sleep: a dead claimer is looked for after each
            if (reclaimForWriterOncePerSlice(now)) continue;
            long waited = now - start;
            if (timeoutNanos >= 0 && waited >= timeoutNanos) return -1;
            region.await(NOT_FULL_OFFSET, key, timeoutNanos < 0 ? slice : Math.min(slice, timeoutNanos - waited), round);
            if (Thread.interrupted()) throw new InterruptedException("interrupted while waiting for room in " + name);
        }
    }

    private long awaitRead(int min, int max, int forWhat, long timeoutNanos) throws InterruptedException {
        for (int i = 0; i < SPIN_TRIES; i++) {
            Thread.onSpinWait();
            long pos = claimReadNow(min, max, forWhat);
            if (pos >= 0) return pos;
        }
        long start = System.nanoTime();
        for (int round = 0; ; round++) {
            int key = announceSleeper(NOT_EMPTY_OFFSET);
            long pos = claimReadNow(min, max, forWhat);
            if (pos >= 0) return pos;
            long now = System.nanoTime();
            long slice = SharedRegion.sliceNanos();
            if (reclaimForReaderOncePerSlice(now)) continue;
            long waited = now - start;
            if (timeoutNanos >= 0 && waited >= timeoutNanos) return -1;
            region.await(NOT_EMPTY_OFFSET, key, timeoutNanos < 0 ? slice : Math.min(slice, timeoutNanos - waited), round);
            if (Thread.interrupted()) throw new InterruptedException("interrupted while waiting for a message in " + name);
        }
    }

    /**
     * Takes back the slot of position {@code p} if the process that claimed it has ended (or its claim names
     * no process): a message being
     * written is given up (readers skip it), one being read is freed for writers. True if it did.
     *
     * <p>The claimer is judged by its pid and, when its start time record is tagged for this claim, by its start
     * time, so a process given a dead claimer's pid since (this one included) does not pass for it. A live claimer
     * is never judged dead: a record tagged for its claim was written by it (only the claim's winner writes that
     * tag, and a survivor clears it before the claim changes hands), so its start time is the claimer's own;
     * any other record leaves the pid alone to judge, as before records existed.
     */
    private boolean reclaimIfDead(long p) {
        long slot = slot(p);
        long seq = (long) LONG.getAcquire(seg, slot + SEQUENCE);
        long role = seq == p ? WRITER : seq == p + 1 ? READER : -1;
        if (role < 0) return false;
        long claim = (long) LONG.getVolatile(seg, slot + role);
        if (claimedPosition(claim) != (int) p) return false;
        // read after the claim: a survivor that took the claim over cleared the record first, so it is seen cleared
        long record = (long) LONG.getOpaque(seg, slot + CLAIMER_START);
        long startTime = recordedSequence(record) == (int) seq ? recordedStartTime(record) : -1;
        int pid = claimedPid(claim);
        // a pid of 0 or below names no process (every claimer writes its own): written over, so ended, as in a lock word
        if (pid > 0 && !Processes.hasEnded(pid, startTime, START_BITS)) return false;
        // Looked at again now that the claimer is known to have ended (it can change nothing from here on): it may
        // have finished its turn and exited between the first look and the judgment. A writer that committed has
        // a message in the slot, and writing ABANDONED over its length would lose it; a reader that released it
        // has given the slot to the next lap.
        if ((long) LONG.getAcquire(seg, slot + SEQUENCE) != seq) return false;
        // Before the claim names this process: the dead claimer's record would pass for this one's start time then.
        // A compare-and-set, so that a record written since by a later claim (this look was late) stays. If it
        // fails, give up this look: the record changed since it was read, by a later claim or by the dead claimer
        // itself, which stored it after that read and died before the judgment; taking the claim over regardless
        // left that record, tagged for this sequence, under a claim naming this live process, and another survivor
        // then judged this process by the dead one's start time and took the claim from under it.
        if (!LONG.compareAndSet(seg, slot + CLAIMER_START, record, startRecord(seq - capacity, UNKNOWN_START))) return false;
        if (!LONG.compareAndSet(seg, slot + role, claim, claimWord(p, Processes.SELF))) return false;   // another survivor won
        if (role == WRITER) {
            INT.set(seg, slot + LENGTH, ABANDONED);
            if (!LONG.compareAndSet(seg, slot + SEQUENCE, p, p + 1)) return false;
            LONG.compareAndSet(seg, TAIL_OFFSET, p, p + 1);
            signal(NOT_EMPTY_OFFSET);
        } else {
            if (!LONG.compareAndSet(seg, slot + SEQUENCE, p + 1, p + capacity)) return false;
            LONG.compareAndSet(seg, HEAD_OFFSET, p, p + 1);
            signal(NOT_FULL_OFFSET);
        }
        LONG.getAndAdd(seg, RECLAIMED_OFFSET, 1L);
        return true;
    }

    /** Publishes the message written into the slot of {@code pos}. */
    void commit(long pos, int length) {
        long slot = slot(pos);
        INT.set(seg, slot + LENGTH, length);
        // a full fence: the announcement of a sleeping consumer read below cannot be stale
        if (!LONG.compareAndSet(seg, slot + SEQUENCE, pos, pos + 1)) throw takenOver(pos, "writing");
        signal(NOT_EMPTY_OFFSET);
    }

    /** Gives up the slot of {@code pos}, claimed for writing: readers skip it. */
    void abandon(long pos) {
        commit(pos, ABANDONED);
    }

    /** Frees the slot of {@code pos}, read, for the writer of the next lap. */
    private void release(long pos) {
        if (!LONG.compareAndSet(seg, slot(pos) + SEQUENCE, pos + 1, pos + capacity)) throw takenOver(pos, "reading");
        signal(NOT_FULL_OFFSET);
    }

    /**
     * Sets the sleepers bit of the wake-up word at {@code word} (an eventcount: the bit and a 31-bit epoch)
     * and returns the value to sleep on. The caller must look at the ring again before it sleeps.
     */
    private int announceSleeper(long word) {
        for (;;) {
            int w = (int) INT.getVolatile(seg, word);
            if ((w & SLEEPERS) != 0 || INT.compareAndSet(seg, word, w, w | SLEEPERS)) return w | SLEEPERS;
        }
    }

    /**
     * After a change the other side may wait for: if someone announced that it sleeps, starts a new epoch
     * without the bit and wakes every sleeper; otherwise does nothing but read the word. The caller's
     * compare-and-set on the ring, just before, orders this read after its change.
     */
    private void signal(long word) {
        if (clearSleepers(seg, word)) region.wake(word, Integer.MAX_VALUE);
    }

    /** If someone announced that it sleeps on the wake-up word at {@code word}: starts a new epoch without the bit, and true. */
    private static boolean clearSleepers(MemorySegment memory, long word) {
        int w = (int) INT.getVolatile(memory, word);
        return (w & SLEEPERS) != 0 && INT.compareAndSet(memory, word, w, ((w & ~SLEEPERS) + 1) & ~SLEEPERS);
    }

    // ============================================================================================ copying

    private void write(long pos, MemorySegment message) {
        boolean written = false;
        try {
            MemorySegment.copy(message, 0, seg, slot(pos) + PAYLOAD, message.byteSize());
            written = true;
        } finally {
            if (written) commit(pos, (int) message.byteSize());
            else abandon(pos);                     // never leave a claimed slot behind
        }
    }

    private void writeLong(long pos, long value) {
        LONG.set(seg, slot(pos) + PAYLOAD, value);
        commit(pos, Long.BYTES);
    }

    private void writeInt(long pos, int value) {
        INT.set(seg, slot(pos) + PAYLOAD, value);
        commit(pos, Integer.BYTES);
    }

    private int readInto(long pos, MemorySegment dst) {
        try {
            int length = lengthAgain(pos, dst.byteSize());
            MemorySegment.copy(seg, slot(pos) + PAYLOAD, dst, 0, length);
            return length;
        } finally {
            release(pos);
        }
    }

    private byte[] readBytes(long pos) {
        try {
            byte[] message = new byte[lengthAgain(pos, maxMessageSize)];
            MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, slot(pos) + PAYLOAD, message, 0, message.length);
            return message;
        } finally {
            release(pos);
        }
    }

    private long readLong(long pos) {
        long value = (long) LONG.get(seg, slot(pos) + PAYLOAD);
        release(pos);
        return value;
    }

    private int readInt(long pos) {
        int value = (int) INT.get(seg, slot(pos) + PAYLOAD);
        release(pos);
        return value;
    }

    /** Runs {@code handler} on the message at {@code pos}, under a hold ({@link SharedRegion#hold()}) that this ends. */
    private void handle(long pos, MessageHandler handler) {
        try {
            int length = lengthAgain(pos, maxMessageSize);
            handler.onMessage(seg.asSlice(slot(pos) + PAYLOAD, length).asReadOnly());
        } finally {
            try {
                release(pos);
            } finally {
                region.endHold();
            }
        }
    }

    /**
     * The length of the message claimed at {@code pos}, read again where it is copied: {@link #claimReadNow}
     * checked it, but another process may have written over it since, and a length trusted here would
     * copy past the destination or the slot.
     */
    private int lengthAgain(long pos, long room) {
        int length = (int) INT.get(seg, slot(pos) + LENGTH);
        if (length < 0 || length > Math.min(room, maxMessageSize)) throw corrupt(pos, "length", length, "reading");
        return length;
    }

    // ============================================================================================ errors

    private void checkLength(long length) {
        if (length > maxMessageSize) {
            throw new IllegalArgumentException("message of " + length + " bytes exceeds the maximum message size of "
                    + maxMessageSize + " bytes of " + name);
        }
    }

    /** The longest message {@code dst} takes; refuses, before a message is taken, one it cannot be copied into. */
    private int limit(MemorySegment dst) {
        if (dst.isReadOnly()) throw new IllegalArgumentException("the destination for a message of " + name + " is read-only");
        // a destination whose arena is closed fails only in the copy too (a shared arena closed by another
        // thread meanwhile still can: that window is the caller's)
        if (!dst.scope().isAlive()) throw new IllegalArgumentException("the destination for a message of " + name + " is in a closed arena");
        return (int) Math.min(dst.byteSize(), maxMessageSize);
    }

    private IllegalStateException wrongLength(long pos, int length, int max, int forWhat) {
        String expected = switch (forWhat) {
            case FOR_LONG -> "a long message is 8 bytes";
            case FOR_INT -> "an int message is 4 bytes";
            default -> "the destination holds " + max;
        };
        return new IllegalStateException(name + ": the message at position " + pos + " has " + length + " bytes; "
                + expected + " (the message stays in the queue)");
    }

    private CorruptQueueException corrupt(long pos, String field, long value, String doing) {
        long slot = pos & mask;
        String end = doing.equals("writing") ? "tail" : "head";
        return new CorruptQueueException(field, value, name + ": the " + field + " of slot " + slot + " holds " + value
                + (field.equals("length") ? ", not a message length from 0 to " + maxMessageSize
                        : (field.equals("sequence") ? "" : String.format(" (0x%016x)", value)) + ", which fits no state of the slot for "
                        + doing + " position " + pos + " (the " + end + ")")
                + ": another process wrote over the queue");
    }

    private IllegalStateException takenOver(long pos, String doing) {
        return new IllegalStateException(name + ": the slot of position " + pos + " was taken back while this process "
                + "was " + doing + " it (another process took it for dead)");
    }
}
