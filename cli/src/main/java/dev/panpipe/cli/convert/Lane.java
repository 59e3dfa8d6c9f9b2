package dev.panpipe.cli.convert;

import dev.panpipe.pixel.PixelFrame;
import dev.panpipe.process.Signals;
import dev.panpipe.worker.Worker;

import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * One worker as {@code panpipe convert} sees it: RGB8 images go in through {@link #claim}/{@link #commit}
 * (in the command's thread) and converted images come out through {@link #drain} (in a thread of its own).
 */
interface Lane extends AutoCloseable {
    String name();

    /** Room for a {@code width x height} RGB8 image, to be filled and then {@link #commit committed}; may wait for room. */
    MemorySegment claim(int width, int height) throws IOException;

    /** Sends the claimed image; its result will be written as {@code name}.png. */
    void commit(String name) throws IOException;

    /** Gives the claimed room back unsent. */
    void abort();

    /** No more images: the worker finishes what it has and ends its results. */
    void endInput() throws IOException;

    /**
     * Takes every result until the worker ends them, handing each to {@code results} (which reports its own
     * failures, so that a file that cannot be written never stops the draining: a worker whose results
     * nobody takes blocks, and the images sent to it with it).
     */
    void drain(Results results) throws Exception;

    /** Ends the worker with SIGTERM: for a signal that stops the run, or a lane whose results cannot be taken any more. */
    void stopWorker();

    /** SIGTERM to {@code worker} unless it has been reaped (then its pid may be another's, and nothing is sent). */
    static void terminate(Worker worker) {
        try {
            worker.signal(Signals.SIGTERM);
        } catch (IOException e) {
            // the worker is past signalling (gone meanwhile); the run unwinds through its end all the same
        }
    }

    /** Where a lane's results go: written as NAME.png, or named on stderr if that fails. */
    interface Results {
        void accept(String name, PixelFrame frame);
    }

    @Override
    void close() throws IOException;
}
