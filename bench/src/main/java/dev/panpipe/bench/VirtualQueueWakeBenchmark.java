package dev.panpipe.bench;

import dev.panpipe.zerocopy.queue.SharedQueue;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * How soon a virtual thread blocked in {@link SharedQueue#takeLong()} wakes when a message comes: the futex wait of
 * every shared object (queue, lock, ring) on a virtual thread. One op = the benchmark's platform thread puts a long
 * into one queue; a virtual thread taking from it wakes and puts it into a second queue; the platform thread takes it
 * back (asleep in futex_wait, woken at once). SampleTime, so the JSON has p50/p90/p99.
 *
 * <p>{@code idleMicros}: how long the virtual thread has waited when the message is put (a pause before each op,
 * outside the timed part). A virtual waiter that parked and looked again with back-off (up to ~1.3 ms apart) saw a
 * message after a long wait late; one woken by the futex poller sees it at once whatever the wait.
 *
 * <p>Run pinned ({@code taskset -c 0}) with {@code scripts/bench}'s JVM flags and this class's name.
 *
 * <p>On 2026-12-05 (2 vCPUs, other work running), {@code taskset -c 0}, {@code -wi 1 -w 1s -i 2 -r 2s}, p50/p90/p99 in
 * µs: parking and looking, {@code idleMicros=0} 20.6/97/146 and {@code 2000} 1165/1276/4469; woken by the futex
 * poller, 28.7/45/70 and 55/105/1174. Back to back, the first 20 µs park of the old wait often found the message,
 * which the poller's hop (the taker's registration wakes the poller, the poller unparks the taker: two more
 * switches on one vCPU) costs a few µs over; after a wait, the old one saw the message up to a back-off late.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 2)
@Fork(1)
public class VirtualQueueWakeBenchmark {

    /** Two queues and a virtual thread echoing what comes through the first into the second. */
    @State(Scope.Thread)
    public static class Echo {
        @Param({"0", "2000"})
        public long idleMicros;

        SharedQueue there;
        SharedQueue back;
        Thread echo;
        volatile Throwable failure;

        @Setup(Level.Trial)
        public void setUp() throws IOException {
            there = SharedQueue.create("vt-wake-there", 16, 8);
            back = SharedQueue.create("vt-wake-back", 16, 8);
            echo = Thread.ofVirtual().name("queue-echo").start(() -> {
                try {
                    for (long v; (v = there.takeLong()) >= 0; ) back.putLong(v);
                } catch (Throwable t) {
                    failure = t;
                }
            });
        }

        @Setup(Level.Invocation)
        public void idle() {
            if (idleMicros > 0) LockSupport.parkNanos(idleMicros * 1_000L);
        }

        @TearDown(Level.Trial)
        public void tearDown() throws Throwable {
            there.putLong(-1);               // the echo ends
            echo.join(10_000);
            there.close();
            back.close();
            if (echo.isAlive()) throw new IllegalStateException("echo thread did not end");
            if (failure != null) throw failure;
        }
    }

    @Benchmark
    public long roundTrip(Echo e) throws InterruptedException {
        e.there.putLong(42);
        return e.back.takeLong();
    }
}
