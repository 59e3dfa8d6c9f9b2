package dev.panpipe.bench;

import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.zerocopy.ring.FrameClaim;
import dev.panpipe.zerocopy.ring.FrameConsumer;
import dev.panpipe.zerocopy.ring.FrameProducer;
import dev.panpipe.zerocopy.ring.FrameRing;
import dev.panpipe.zerocopy.ring.FrameRingClosedException;
import dev.panpipe.zerocopy.ring.FrameView;
import dev.panpipe.zerocopy.ring.WaitStrategy;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The other end of the ring benchmarks: a child JVM (started by {@link RingChild}, pinned by {@link Placement})
 * that gets its rings as fds 3 and 4. It prints {@code ready} once attached; when the parent's producer closes
 * the ring it prints {@code frames N errors E} and exits 0. Every frame is checked, so a benchmark cannot
 * count frames that were not really handed over.
 *
 * <ul>
 *   <li>{@code handoff WAIT WIDTH HEIGHT}: consumer of fd 3; reads each frame's descriptor and its first pixel
 *       (which the producer set from the sequence), nothing else.</li>
 *   <li>{@code sum WAIT}: consumer of fd 3; reads every byte of every frame, as longs ({@link #sumLongs}), and
 *       checks the sum against the byte the producer filled the frame with ({@link #fillByte}).</li>
 *   <li>{@code echo WAIT}: consumer of fd 3 (ping), producer on fd 4 (pong): copies each message back.</li>
 *   <li>{@code hang ROLE}: attaches to fd 3 as {@code producer} or {@code consumer}, prints ready and sleeps
 *       until it is killed (for {@link RingPeerDeathBenchmark}).</li>
 * </ul>
 * WAIT is a {@link #strategy} name.
 */
public final class RingPeer {
    static final int RING_FD = 3;
    static final int PONG_FD = 4;

    private RingPeer() {
    }

    public static void main(String[] args) throws Exception {
        try (FrameRing ring = FrameRing.map(RING_FD)) {
            switch (args[0]) {
                case "handoff" -> handoff(ring, strategy(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3]));
                case "sum" -> sum(ring, strategy(args[1]));
                case "echo" -> {
                    try (FrameRing pong = FrameRing.map(PONG_FD)) {
                        echo(ring, pong, strategy(args[1]));
                    }
                }
                case "hang" -> {
                    if (args[1].equals("producer")) ring.producer(); else ring.consumer();
                    ready();
                    Thread.sleep(Long.MAX_VALUE);
                }
                default -> throw new IllegalArgumentException("unknown mode " + args[0]);
            }
        }
    }

    private static void handoff(FrameRing ring, WaitStrategy wait, int width, int height) throws IOException {
        try (FrameConsumer in = ring.consumer(wait)) {
            serve(in, v -> {
                MemorySegment p = v.pixels();
                long seq = v.sequence();
                return v.width() == width && v.height() == height && v.format() == PixelFormat.RGB8
                        && p.get(ValueLayout.JAVA_BYTE, 0) == (byte) seq
                        && p.get(ValueLayout.JAVA_BYTE, 1) == (byte) (seq >>> 8)
                        && p.get(ValueLayout.JAVA_BYTE, 2) == (byte) (seq >>> 16);
            });
        }
    }

    private static void sum(FrameRing ring, WaitStrategy wait) throws IOException {
        try (FrameConsumer in = ring.consumer(wait)) {
            serve(in, v -> sumLongs(v.pixels()) == expectedSum(fillByte(v.sequence()), v.payloadLength()));
        }
    }

    private static void echo(FrameRing ping, FrameRing pong, WaitStrategy wait) throws IOException {
        try (FrameConsumer in = ping.consumer(wait); FrameProducer out = pong.producer(wait)) {
            serve(in, v -> {
                long n = v.payloadLength();
                FrameClaim c = out.claimBytes(n);
                MemorySegment.copy(v.pixels(), 0, c.pixels(), 0, n);
                c.commit(v.timestampNanos());   // the answer carries the request's stamp, as RingEchoWorker does; before the release: the parent times the round trip
                return true;         // the parent checks every echo itself
            });
        }
    }

    /** What is done with each frame before it is released; false counts an error. */
    private interface Handler {
        boolean handle(FrameView frame) throws IOException;
    }

    /** Says ready, then handles and releases every frame until the producer closes, then reports the counts. */
    private static void serve(FrameConsumer in, Handler handler) throws IOException {
        ready();
        long frames = 0, errors = 0;
        for (;;) {
            FrameView v;
            try {
                v = in.take();
            } catch (FrameRingClosedException endOfStream) {
                break;
            }
            if (!handler.handle(v)) errors++;
            frames++;
            v.release();
        }
        System.out.println("frames " + frames + " errors " + errors);
        System.out.flush();
    }

    private static void ready() {
        System.out.println("ready");
        System.out.flush();
    }

    /**
     * {@code spinning}, {@code doorbell} or {@code sleepAtOnce}: the {@link WaitStrategy} factory of that name;
     * for experiments, {@code s<N>y<M>}: N spins, M yields, then the futex (e.g. {@code -p wait=s0y4}).
     */
    static WaitStrategy strategy(String name) {
        return switch (name) {
            case "spinning" -> WaitStrategy.spinning();
            case "doorbell" -> WaitStrategy.doorbell();
            case "sleepAtOnce" -> WaitStrategy.sleepAtOnce();
            default -> {
                if (name.matches("s\\d+y\\d+")) yield new WaitStrategy(Integer.parseInt(name.substring(1, name.indexOf('y'))),
                        Integer.parseInt(name.substring(name.indexOf('y') + 1)), true, 20_000_000L);
                throw new IllegalArgumentException("wait: spinning, doorbell or sleepAtOnce, not " + name);
            }
        };
    }

    /** The byte every byte of frame {@code sequence} is filled with in the fill-and-read benchmarks. */
    static byte fillByte(long sequence) {
        return (byte) (sequence * 0x9E3779B97F4A7C15L >>> 56);
    }

    /**
     * Writes {@code b} into every byte of {@code s}, eight at a time, then the tail byte by byte: the writing
     * half of the fill-and-read benchmarks. Plain stores, as a decoder or a kernel writes pixels, and not
     * {@link MemorySegment#fill}: the JDK's memset is as fast alone, but on this machine (AMD EPYC, KVM) it ran
     * 7x slower (0.76 ms instead of 0.11 ms a 1080p frame, two threads, one process) while the other core was
     * reading the neighbouring slot, and a store loop did not (0.08 ms).
     */
    static void fill(MemorySegment s, byte b) {
        long n = s.byteSize();
        long words = n & ~7L;
        long word = (b & 0xffL) * 0x0101010101010101L;
        for (long i = 0; i < words; i += 8) s.set(ValueLayout.JAVA_LONG_UNALIGNED, i, word);
        for (long i = words; i < n; i++) s.set(ValueLayout.JAVA_BYTE, i, b);
    }

    /**
     * The sum, as 64-bit words (wrapping), of {@code s}: every byte is read once, eight at a time, then the
     * tail byte by byte. The reading half of the fill-and-read benchmarks, in both processes and in the
     * single-process baseline alike.
     */
    static long sumLongs(MemorySegment s) {
        long n = s.byteSize();
        long words = n & ~7L;
        long sum = 0;
        for (long i = 0; i < words; i += 8) sum += s.get(ValueLayout.JAVA_LONG_UNALIGNED, i);
        for (long i = words; i < n; i++) sum += s.get(ValueLayout.JAVA_BYTE, i) & 0xff;
        return sum;
    }

    /** What {@link #sumLongs} gives for {@code length} bytes that all hold {@code b}. */
    static long expectedSum(byte b, long length) {
        long word = (b & 0xffL) * 0x0101010101010101L;
        return (length >>> 3) * word + (length & 7) * (b & 0xffL);
    }
}
