package dev.panpipe.cli.convert;

import dev.panpipe.connection.ConnectionOptions;
import dev.panpipe.worker.WorkerSpec;
import dev.panpipe.worker.Workers;
import dev.panpipe.zerocopy.ring.FrameLink;

import java.io.IOException;

/** How {@code panpipe convert} moves frames to a worker and back: the seam between the command and the wire. */
enum Transport {
    /** A frame ring each way in shared memory; the worker reads and writes the slots in place. */
    SHM {
        @Override
        Lane start(Workers workers, Operation op, String name, long maxRgbBytes) throws IOException {
            long in = Math.max(1, maxRgbBytes);
            long outBytes = Math.max(1, op.outputSize((int) Math.min(Integer.MAX_VALUE, in / 3), 1));
            FrameLink link = FrameLink.create(SLOTS, in, SLOTS, outBytes);
            try {
                var worker = workers.start(link.handTo(spec(name, op, "--shm")));
                link.watch(worker.pid());
                return new ShmLane(name, worker, link, op);
            } catch (IOException | RuntimeException e) {
                link.close();
                throw e;
            }
        }
    },
    /** Pixel frames over the worker's stdin, results back through its FIFO. */
    PIPE {
        @Override
        Lane start(Workers workers, Operation op, String name, long maxRgbBytes) throws IOException {
            // A frame is its pixels and a header of a few bytes; an image over the connections' default limit
            // (256 MiB: 89 megapixels of RGB8) would fail the run, where shm takes up to --max-megapixels.
            int maxMessage = Math.toIntExact(Math.max(ConnectionOptions.DEFAULT_MAX_MESSAGE_SIZE, maxRgbBytes + 1024));
            return new PipeLane(name, workers.start(spec(name, op, "--pipe").maxMessageSize(maxMessage)));
        }
    };

    /** Slots per ring: enough to keep decoder, worker and PNG writer busy at once, few enough to stay small. */
    static final int SLOTS = 4;

    /** Starts a worker for frames of up to {@code maxRgbBytes} of RGB8. */
    abstract Lane start(Workers workers, Operation op, String name, long maxRgbBytes) throws IOException;

    private static WorkerSpec spec(String name, Operation op, String transportFlag) {
        return WorkerSpec.java(name, ConvertWorker.class, op.label(), transportFlag).inboxCapacity(4);
    }
}
