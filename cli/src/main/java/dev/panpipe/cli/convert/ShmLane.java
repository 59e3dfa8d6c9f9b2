package dev.panpipe.cli.convert;

import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.pixel.PixelFrame;
import dev.panpipe.process.ExitStatus;
import dev.panpipe.worker.Worker;
import dev.panpipe.zerocopy.ring.FrameClaim;
import dev.panpipe.zerocopy.ring.FrameLink;
import dev.panpipe.zerocopy.ring.FrameRingClosedException;
import dev.panpipe.zerocopy.ring.FrameView;
import dev.panpipe.zerocopy.ring.PeerDiedException;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * A worker joined by a {@link FrameLink}: images are decoded straight into a slot of the ring to the worker,
 * the worker converts from that slot into a slot of the ring back, and the PNG is encoded from there. No
 * pixel crosses a pipe; the worker's stdin only carries the end of input.
 */
final class ShmLane implements Lane {
    private final String name;
    private final Worker worker;
    private final FrameLink link;
    private final Operation op;
    private final Queue<String> pendingNames = new ConcurrentLinkedQueue<>();
    private FrameClaim claimed;

    ShmLane(String name, Worker worker, FrameLink link, Operation op) {
        this.name = name;
        this.worker = worker;
        this.link = link;
        this.op = op;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public MemorySegment claim(int width, int height) throws IOException {
        try {
            claimed = link.out().claim(width, height, PixelFormat.RGB8);
        } catch (PeerDiedException e) {
            throw died(e);
        }
        return claimed.pixels();
    }

    @Override
    public void commit(String imageName) throws IOException {
        pendingNames.add(imageName);
        try {
            claimed.commit();
        } catch (PeerDiedException e) {
            throw died(e);
        } finally {
            claimed = null;
        }
    }

    @Override
    public void abort() {
        claimed.abort();
        claimed = null;
    }

    @Override
    public void endInput() throws IOException {
        link.out().close();    // end of the frame stream: the worker finishes and closes its ring back
        worker.endInput();
    }

    @Override
    public void drain(Results results) throws Exception {
        for (;;) {
            FrameView result;
            try {
                result = link.in().take();
            } catch (FrameRingClosedException end) {
                return;
            } catch (PeerDiedException e) {
                throw died(e);
            }
            if (result.format() != op.output()) {
                throw new IOException("worker " + name + " answered with " + result.format() + ", expected " + op.output());
            }
            results.accept(pendingNames.remove(), PixelFrame.packed(result.width(), result.height(), result.format(), result.pixels()));
            result.release();
        }
    }

    /**
     * The ring's "the consumer (pid N) died with ..." (or "producer"), said by the sender and the taker in
     * different words, as the one line the pipe transport gives: which worker, and how it ended.
     */
    private IOException died(PeerDiedException e) {
        ExitStatus status;
        try {
            status = worker.exitStatus().orElse(null);
        } catch (IOException unknown) {
            status = null;
        }
        return new IOException("worker " + name + " died: " + (status == null ? "status unknown" : status), e);
    }

    @Override
    public void stopWorker() {
        Lane.terminate(worker);
    }

    @Override
    public void close() throws IOException {
        link.close();
    }
}
