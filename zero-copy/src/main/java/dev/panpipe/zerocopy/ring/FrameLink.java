package dev.panpipe.zerocopy.ring;

import dev.panpipe.internal.Closer;
import dev.panpipe.worker.WorkerSpec;

import java.io.IOException;

/**
 * Two frame rings between a parent and one worker process: frames go out through one, results come back
 * through the other, and neither ever crosses a pipe. The worker's stdin and results FIFO stay what they
 * are for the worker protocol (start-up hello, end of input, errors); the rings carry the pixels.
 *
 * <pre>{@code
 * // parent
 * try (FrameLink link = FrameLink.create(4, 1920 * 1080 * 3, 4, 1920 * 1080 * 3)) {
 *     Worker w = workers.start(link.handTo(WorkerSpec.java("w", MyWorker.class)));
 *     link.watch(w.pid());
 *     FrameClaim c = link.out().claim(1920, 1080, PixelFormat.RGB8); fill(c.pixels()); c.commit();
 *     FrameView r = link.in().take(); use(r.pixels()); r.release();
 * }
 * // worker (fds 3 and 4 inherited)
 * try (FrameLink link = FrameLink.inherited()) {
 *     FrameView f = link.in().take(); FrameClaim c = link.out().claim(...); work(f, c); c.commit(); f.release();
 * }
 * }</pre>
 *
 * Each side closes its {@link #out()} to end its stream; the other side's {@code take} then ends with
 * {@link FrameRingClosedException} once it has taken every frame. One owner: {@link #close()} closes both
 * rings.
 */
public final class FrameLink implements AutoCloseable {
    /** The fd the parent-to-worker ring has in the worker. */
    public static final int TO_WORKER_FD = 3;
    /** The fd the worker-to-parent ring has in the worker. */
    public static final int FROM_WORKER_FD = 4;

    private final FrameRing outRing;
    private final FrameRing inRing;
    private final FrameProducer out;
    private final FrameConsumer in;

    private FrameLink(FrameRing outRing, FrameRing inRing, WaitStrategy strategy) throws IOException {
        this.outRing = outRing;
        this.inRing = inRing;
        try {
            this.out = outRing.producer(strategy);
            this.in = inRing.consumer(strategy);
        } catch (IOException | RuntimeException e) {
            closeAfter(e, outRing, inRing);
            throw e;
        }
    }

    /** The parent side: a ring of {@code outSlots} x {@code maxOutBytes} to the worker and one of {@code inSlots} x {@code maxInBytes} back. */
    public static FrameLink create(int outSlots, long maxOutBytes, int inSlots, long maxInBytes) throws IOException {
        return create(outSlots, maxOutBytes, inSlots, maxInBytes, WaitStrategy.doorbell());
    }

    public static FrameLink create(int outSlots, long maxOutBytes, int inSlots, long maxInBytes, WaitStrategy strategy)
            throws IOException {
        FrameRing toWorker = FrameRing.create(outSlots, maxOutBytes);
        FrameRing fromWorker;
        try {
            fromWorker = FrameRing.create(inSlots, maxInBytes);
        } catch (IOException | RuntimeException e) {
            closeAfter(e, toWorker);
            throw e;
        }
        return new FrameLink(toWorker, fromWorker, strategy);
    }

    /** The worker side, over the rings inherited as fds {@value #TO_WORKER_FD} and {@value #FROM_WORKER_FD}. */
    public static FrameLink inherited() throws IOException {
        return inherited(WaitStrategy.doorbell());
    }

    public static FrameLink inherited(WaitStrategy strategy) throws IOException {
        FrameRing toWorker = FrameRing.map(TO_WORKER_FD);
        FrameRing fromWorker;
        try {
            fromWorker = FrameRing.map(FROM_WORKER_FD);
        } catch (IOException | RuntimeException e) {
            closeAfter(e, toWorker);
            throw e;
        }
        return new FrameLink(fromWorker, toWorker, strategy);
    }

    /** Adds the two rings' fds to a worker's spec, as {@value #TO_WORKER_FD} and {@value #FROM_WORKER_FD}. */
    public WorkerSpec handTo(WorkerSpec spec) {
        return spec.passFd(TO_WORKER_FD, outRing.memory().nativeHandle())
                .passFd(FROM_WORKER_FD, inRing.memory().nativeHandle());
    }

    /** Watches the worker process, so a worker that dies before or after attaching fails waits at once. */
    public void watch(long pid) {
        out.watchPeer(pid);
        in.watchPeer(pid);
    }

    /** This side's producer: frames to the other side. */
    public FrameProducer out() {
        return out;
    }

    /** This side's consumer: frames from the other side. */
    public FrameConsumer in() {
        return in;
    }

    /**
     * Closes both rings, the second even if closing the first failed; the first failure is thrown, the other
     * suppressed. Idempotent, but for an unmap that failed, which a later close tries again
     * ({@link FrameRing#close()}).
     */
    @Override
    public void close() throws IOException {
        Closer closer = new Closer();
        closer.run(outRing::close);
        closer.run(inRing::close);
        closer.throwFailure();
    }

    /** Closes {@code rings} on a path that failed with {@code failure}: their failures are suppressed in it, not thrown instead. */
    private static void closeAfter(Exception failure, FrameRing... rings) {
        for (FrameRing ring : rings) {
            try {
                ring.close();
            } catch (IOException | RuntimeException e) {
                failure.addSuppressed(e);
            }
        }
    }
}
