package dev.panpipe.zerocopy.ring;

import dev.panpipe.worker.WorkerContext;

import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * A worker that answers every frame of its {@link FrameLink} with a copy of it (same size, format and
 * pixels), until the parent ends the stream: the ring counterpart of {@code dev.panpipe.worker.EchoWorker},
 * for tests, benchmarks and as the smallest example of a ring worker. Start it with
 * {@code link.handTo(WorkerSpec.java("echo", RingEchoWorker.class))}.
 */
public final class RingEchoWorker {
    private RingEchoWorker() {
    }

    public static void main(String[] args) throws IOException {
        try (WorkerContext ctx = WorkerContext.connect(); FrameLink link = FrameLink.inherited()) {
            FrameConsumer in = link.in();
            FrameProducer out = link.out();
            for (;;) {
                FrameView frame;
                try {
                    frame = in.take();
                } catch (FrameRingClosedException endOfInput) {
                    return;
                }
                FrameClaim answer = frame.format() == null
                        ? out.claimBytes(frame.payloadLength())
                        : out.claim(frame.width(), frame.height(), frame.format());
                MemorySegment.copy(frame.pixels(), 0, answer.pixels(), 0, frame.payloadLength());
                answer.commit(frame.timestampNanos());
                frame.release();
            }
        }
    }
}
