package dev.panpipe.bench;

import dev.panpipe.io.Pipe;
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
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * How soon a virtual thread blocked reading a pipe wakes when data comes. One op = the benchmark's platform
 * thread writes 64 bytes to a pipe; a virtual thread blocked reading it wakes, reads them and writes them to a
 * second pipe; the platform thread reads them back (asleep in poll(2), woken at once). SampleTime, so the JSON has
 * p50/p90/p99 beside the mean.
 *
 * <ul>
 *   <li>{@code panpipe}: panpipe's {@link Pipe}s; the virtual thread parks until panpipe's poller thread unparks it.</li>
 *   <li>{@code jdk}: {@link NioPipeBenchmark}'s echo over {@link java.nio.channels.Pipe}, from a virtual thread,
 *       which the JDK's own poller thread wakes: the baseline.</li>
 * </ul>
 *
 * <p>{@code idleMicros}: how long the virtual thread has been waiting when the bytes are written (a pause before
 * each op, outside the timed part). 0 is a back-to-back ping-pong; 20000 is a reader that has waited 20 ms, which a
 * wait that looked and parked with back-off (up to ~5 ms apart) noticed late.
 *
 * <p>Everything runs in the benchmark JVM: pin it ({@code taskset -c 0} for one vCPU, {@code taskset -c 0,1} for
 * two; the virtual-thread scheduler takes as many carriers as the JVM has cpus), with {@code SharedQueue}'s command
 * and this class's name.
 *
 * <p>On 2026-12-05 (2 vCPUs, load 2-6 from other work), {@code idleMicros=0} under {@code taskset -c 0}, p50: panpipe
 * 20.9-21.7 µs before and 19.9-20.2 µs after its waiter stopped looking at the fd around each park (the poller marks
 * the waiter; a read or write that just hit EAGAIN registers at once), the JDK 7.8-8.2 µs throughout; under {@code
 * taskset -c 0,1} both read 17-23 µs, before and after alike. Counted with {@code perf stat -e 'syscalls:sys_enter_*'}
 * over a plain loop of the same round trip (one vCPU, per round trip, warm-up in): panpipe 0.92 epoll_ctl, 1.91 poll
 * before and 0.99 after, 1.43 futex, 0.46 epoll_wait, 3.45 read, 2 write, 2.7 context switches; the JDK 0.27 epoll_ctl,
 * no poll, 0.45 futex, 0.41 epoll_wait, 2.14 read, 2 write, 2.2 switches. Most of what remains is not the wake-up: the
 * JDK's echo finds the next ping already there about three times in four (its carrier is switched out once a trip but
 * sleeps on a futex in one trip of five: the reader preempts it on the write back), panpipe's about half the time, and
 * each park costs a trip through a poller thread; and this benchmark's platform thread reads panpipe's pipe by read,
 * EAGAIN, poll, read (so that close can wake it) where the JDK's sleeps in one read.
 *
 * <p>Later on 2026-12-05 (load under 1), once a wait re-arms the fd's one-shot registration with {@code
 * EPOLL_CTL_MOD} instead of adding it and deleting it again: {@code idleMicros=0} under {@code taskset -c 0}
 * ({@code -f 1 -wi 2 -i 3}, two runs each), p50 panpipe 20.4 and 19.7 µs before, 19.5 and 20.4 µs after: no
 * difference above the noise; the JDK 7.8-8.0 µs throughout; {@code -prof gc} 31-35 B/op for panpipe both ways (its
 * fds are below 128, so the map never boxed here; what is left is the JDK's park and unpark). Counted with
 * {@code perf stat -e syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_epoll_wait} over 2000 reads by a virtual
 * thread that each wait (the writer pauses 1 ms before each byte): 3916 epoll_ctl for 1959 epoll_wait before, 1947
 * for 1947 after: two calls per wait, then one.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 2)
@Fork(1)
public class VirtualThreadWakeBenchmark {
    static final int BYTES = NioPipeBenchmark.PING_BYTES;

    /** The pause before each op, so that the echo has been waiting that long. */
    @State(Scope.Thread)
    public static class Idle {
        @Param({"0", "20000"})
        public long idleMicros;

        @Setup(Level.Invocation)
        public void idle() {
            if (idleMicros > 0) LockSupport.parkNanos(idleMicros * 1_000L);
        }
    }

    /** Two panpipe pipes and a virtual thread echoing what comes through the first into the second. */
    @State(Scope.Thread)
    public static class PanpipeEcho {
        Pipe there;
        Pipe back;
        Thread echo;
        volatile Throwable failure;
        final byte[] out = new byte[BYTES];
        final byte[] in = new byte[BYTES];

        @Setup(Level.Trial)
        public void setUp() throws IOException {
            there = Pipe.open();
            back = Pipe.open();
            echo = Thread.ofVirtual().name("panpipe-echo").start(() -> {
                byte[] b = new byte[BYTES];
                try {
                    for (int n; (n = there.readEnd().read(b, 0, BYTES)) > 0; ) back.writeEnd().write(b, 0, n);
                } catch (Throwable t) {
                    failure = t;
                }
            });
        }

        @TearDown(Level.Trial)
        public void tearDown() throws Throwable {
            there.writeEnd().close();       // the echo reads end of stream and ends
            echo.join(10_000);
            there.close();
            back.close();
            if (echo.isAlive()) throw new IllegalStateException("echo thread did not end");
            if (failure != null) throw failure;
        }
    }

    /** {@link NioPipeBenchmark}'s echo, from a virtual thread. */
    @State(Scope.Thread)
    public static class JdkEcho extends NioPipeBenchmark.Echo {
        @Override
        Thread.Builder echoThread() {
            return Thread.ofVirtual().name("nio-pipe-echo");
        }
    }

    @Benchmark
    public byte[] panpipe(PanpipeEcho e, Idle idle) throws IOException {
        e.there.writeEnd().write(e.out, 0, BYTES);
        for (int got = 0, n; got < BYTES; got += n) {
            n = e.back.readEnd().read(e.in, got, BYTES - got);
            if (n <= 0) throw new IOException("echo ended the stream after " + got + " bytes");
        }
        return e.in;
    }

    @Benchmark
    public ByteBuffer jdk(JdkEcho e, Idle idle) throws IOException {
        return NioPipeBenchmark.roundTrip(e);
    }
}
